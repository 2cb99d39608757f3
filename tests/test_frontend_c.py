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


LOG_DRIVER = r"""
#include <stdio.h>
#include "nb_frontend.c"
int main(void) {
    float x;
    while (fread(&x, sizeof(float), 1, stdin) == 1) {
        const float y = nb_fe_log(x);
        fwrite(&y, sizeof(float), 1, stdout);
    }
    return 0;
}
"""


def test_fast_log_matches_float64_log_over_the_used_range(tmp_path):
    """nb_fe_log (bit-level exponent + atanh series) vs float64 log: within ~1 ulp of the float32 result
    from the silence floor (1e-6) up to far beyond full-scale band energies, incl. every exponent."""
    render_frontend(FrontEndSpec(), 40, tmp_path)
    (tmp_path / "logmain.c").write_text(LOG_DRIVER)
    exe = tmp_path / "logtest"
    subprocess.run(
        ["gcc", "-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", "-Wno-unused-function",
         "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-I", str(tmp_path),
         str(tmp_path / "logmain.c"), str(tmp_path / "nb_frontend_tables.c"), "-o", str(exe)],
        check=True,
    )
    rng = np.random.default_rng(0)
    x = np.concatenate([
        np.float32([1e-6, np.float32(1e-6) + np.float32(1e-12), 0.5, 1.0, 2.0, np.sqrt(0.5), np.sqrt(2.0)]),
        np.nextafter(np.float32(np.sqrt(2.0)), np.float32([0, 10])).astype(np.float32),
        np.logspace(-6, 30, 20001).astype(np.float32),
        (10.0 ** rng.uniform(-6, 12, 20000)).astype(np.float32),
        (np.float32(2.0) ** np.arange(-19, 100)).astype(np.float32),
    ])
    out = subprocess.run([str(exe)], input=x.tobytes(), capture_output=True, check=True).stdout
    y = np.frombuffer(out, dtype=np.float32)
    ref = np.log(x.astype(np.float64))
    err = np.abs(y.astype(np.float64) - ref)
    ulp = np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64)
    assert np.all(err <= 1.5 * ulp + 1e-7), (x[np.argmax(err - 1.5 * ulp)], err.max())
    assert err[x <= 1e6].max() < 2e-6


@pytest.mark.parametrize(
    "spec,bands",
    [
        # n_fft/2 = 128 is not a power of 4: radix-2 first stage; odd window: padded window table
        (FrontEndSpec(sample_rate=8000, win_length=200, hop_length=80, n_fft=256, n_mels=24, fmax=4000.0), 24),
        (FrontEndSpec(win_length=401, hop_length=160, n_fft=512), 40),
        (FrontEndSpec(win_length=160, hop_length=160, n_fft=256, n_mels=20), 7),
    ],
)
def test_c_frontend_other_geometries(tmp_path, spec, bands):
    exe = build(tmp_path, spec, bands)
    rng = np.random.default_rng(3)
    pcm = np.concatenate([_speechlike(4000, 2), np.clip(rng.normal(size=2000) * 8000, -32768, 32767)])
    pcm = pcm.astype(np.int16)
    c = run(exe, pcm, bands)
    ref = features_numpy(pcm.astype(np.float64) / 32768.0, spec, n_bands=bands)
    assert c.shape == ref.shape
    assert np.max(np.abs(c - ref)) < TOL_ABS


@pytest.mark.parametrize("bands", [40, 16])
def test_c_frontend_cross_compiles_for_cortex_m4_o2(tmp_path, bands):
    """The optimized front end builds for the Cortex-M4F (hard float) with -O2 -Wall -Wextra -Werror."""
    from convert.measure import get_board

    render_frontend(FrontEndSpec(), bands, tmp_path)
    flags = list(get_board("mps2-an386").cpu_flags)
    assert "-mcpu=cortex-m4" in flags
    for src in ("nb_frontend.c", "nb_frontend_tables.c"):
        subprocess.run(
            ["arm-none-eabi-gcc", *flags, "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", str(tmp_path),
             "-c", str(tmp_path / src), "-o", str(tmp_path / (src + ".o"))],
            check=True,
        )
    syms = subprocess.run(["arm-none-eabi-nm", str(tmp_path / "nb_frontend.c.o")], capture_output=True,
                          text=True, check=True).stdout
    assert " T nb_frontend_process" in syms
    assert "logf" not in syms and "sinf" not in syms and "cosf" not in syms  # no libm at run time
