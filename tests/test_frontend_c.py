"""The C front end (float32) against the numpy reference, on host gcc with sanitizers."""

import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convert.frontend_c import render_frontend
from train.frontend import FrontEndSpec, features_numpy

DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include "nb_frontend.h"
int main(void) {
    static nb_frontend_t fe;
    int16_t hop[NB_FE_HOP];
    float feat[NB_FE_BANDS];
    nb_frontend_init(&fe);
    while (fread(hop, sizeof(int16_t), NB_FE_HOP, stdin) == NB_FE_HOP) {
        nb_frontend_process(&fe, hop, feat);
        fwrite(feat, sizeof(float), NB_FE_BANDS, stdout);
    }
    return 0;
}
"""

# Documented tolerance of the float32 C front end vs the float64 numpy reference (log domain).
TOL_ABS = 1e-4


def build(tmp, spec, bands):
    render_frontend(spec, bands, tmp)
    (tmp / "main.c").write_text(DRIVER)
    exe = tmp / "fe"
    subprocess.run(
        ["gcc", "-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined",
         "-fno-sanitize-recover=all", "-I", str(tmp), str(tmp / "main.c"), str(tmp / "nb_frontend.c"),
         str(tmp / "nb_frontend_tables.c"), "-lm", "-o", str(exe)],
        check=True,
    )
    return exe


def run(exe, pcm, bands):
    out = subprocess.run([str(exe)], input=pcm.astype("<i2").tobytes(), capture_output=True, check=True).stdout
    return np.frombuffer(out, dtype=np.float32).reshape(-1, bands)


@pytest.fixture(scope="module")
def fe40(tmp_path_factory):
    return build(tmp_path_factory.mktemp("fe40"), FrontEndSpec(), 40)


@pytest.fixture(scope="module")
def fe13(tmp_path_factory):
    return build(tmp_path_factory.mktemp("fe13"), FrontEndSpec(), 13)


def _speechlike(n, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    f0 = 120 + 40 * np.sin(2 * np.pi * 3 * t)
    x = sum(np.sin(2 * np.pi * h * np.cumsum(f0) / 16000) / h for h in range(1, 12))
    env = (np.sin(2 * np.pi * 2 * t) > 0).astype(float)
    x = x * env + 0.01 * rng.normal(size=n)
    return np.clip(x / np.max(np.abs(x)) * 12000, -32768, 32767).astype(np.int16)


def test_c_frontend_matches_numpy_on_speechlike_audio(fe40):
    pcm = _speechlike(16000, 0)
    c = run(fe40, pcm, 40)
    ref = features_numpy(pcm.astype(np.float64) / 32768.0, FrontEndSpec())
    assert c.shape == ref.shape
    assert np.max(np.abs(c - ref)) < TOL_ABS


def test_c_frontend_first_k_bands(fe13):
    pcm = _speechlike(8000, 1)
    c = run(fe13, pcm, 13)
    ref = features_numpy(pcm.astype(np.float64) / 32768.0, FrontEndSpec(), n_bands=13)
    assert np.max(np.abs(c - ref)) < TOL_ABS


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), hops=st.integers(1, 12), level=st.sampled_from([0, 1, 30, 3000, 32767]))
def test_c_frontend_random_audio(fe40, seed, hops, level):
    rng = np.random.default_rng(seed)
    pcm = np.clip(rng.normal(size=hops * 160) * level, -32768, 32767).astype(np.int16)
    c = run(fe40, pcm, 40)
    ref = features_numpy(pcm.astype(np.float64) / 32768.0, FrontEndSpec())
    assert np.max(np.abs(c - ref)) < TOL_ABS
