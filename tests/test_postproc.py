"""VAD post-processing: Python reference vs the C twin, and hand-computed cases."""

import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from train.errors import UsageError
from train.postproc import PostProcConfig, decisions, quantized_threshold

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include "nb_postproc.h"
int main(int argc, char **argv) {
    nb_postproc_config_t cfg;
    nb_postproc_t pp;
    int8_t q;
    (void)argc;
    cfg.q_on = (int8_t)atoi(argv[1]);
    cfg.onset_hops = (uint16_t)atoi(argv[2]);
    cfg.hangover_hops = (uint16_t)atoi(argv[3]);
    nb_postproc_init(&pp);
    while (fread(&q, 1, 1, stdin) == 1) {
        uint8_t d = nb_postproc_step(&pp, &cfg, q);
        fwrite(&d, 1, 1, stdout);
    }
    return 0;
}
"""


@pytest.fixture(scope="module")
def exe(tmp_path_factory):
    d = tmp_path_factory.mktemp("pp")
    (d / "main.c").write_text(DRIVER)
    out = d / "pp"
    src = ROOT / "firmware_templates" / "vad"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined",
                    "-fno-sanitize-recover=all", "-I", str(src), str(d / "main.c"), str(src / "nb_postproc.c"),
                    "-o", str(out)], check=True)
    return out


def test_hand_computed():
    cfg = PostProcConfig(threshold=0.5, onset_hops=2, hangover_hops=2)
    q = np.array([0, 10, 10, 0, 0, 0, 10, 0, 10, 10, 10], dtype=np.int8)
    assert decisions(q, 5, cfg).tolist() == [0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 1]


def test_quantized_threshold_logistic_output():
    # LOGISTIC int8 output: scale 1/256, zero point -128
    q = quantized_threshold(0.5, 1 / 256, -128)
    assert q == 0 and (q + 128) / 256 >= 0.5 > (q - 1 + 128) / 256


def test_bad_config():
    with pytest.raises(UsageError):
        PostProcConfig(threshold=1.5)
    with pytest.raises(UsageError):
        PostProcConfig(onset_hops=0)


@settings(max_examples=40, deadline=None)
@given(q=st.lists(st.integers(-128, 127), min_size=1, max_size=300), q_on=st.integers(-128, 127),
       onset=st.integers(1, 5), hang=st.integers(0, 30))
def test_c_matches_python(exe, q, q_on, onset, hang):
    qa = np.array(q, dtype=np.int8)
    cfg = PostProcConfig(threshold=0.5, onset_hops=onset, hangover_hops=hang)
    out = subprocess.run([str(exe), str(q_on), str(onset), str(hang)], input=qa.tobytes(),
                         capture_output=True, check=True).stdout
    assert np.frombuffer(out, np.uint8).tolist() == decisions(qa, q_on, cfg).tolist()
