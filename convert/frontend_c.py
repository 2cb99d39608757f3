"""Render the C front end (firmware_templates/frontend) for a front-end spec and a number of kept mel bands.

The C code is the float32 twin of `train.frontend.features_numpy`; the tables (window, FFT twiddles,
bit reversal, sparse filterbank) are computed here in float64 and written as float32 constants.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import jinja2
import numpy as np

from train.frontend import FrontEndSpec, filterbank_ranges, window

TEMPLATES = Path(__file__).resolve().parent.parent / "firmware_templates"
FRONTEND_DIR = TEMPLATES / "frontend"
STATIC = ("nb_frontend.h", "nb_frontend.c")


def c_float(v: float) -> str:
    s = repr(float(np.float32(v)))
    if "e" not in s and "." not in s and "inf" not in s and "nan" not in s:
        s += ".0"
    return s + "f"


def _rows(values: list[str], per_line: int = 8) -> str:
    lines = [", ".join(values[i : i + per_line]) for i in range(0, len(values), per_line)]
    return ",\n".join("    " + ln for ln in lines)


def _bitrev(i: int, bits: int) -> int:
    return int(f"{i:0{bits}b}"[::-1], 2) if bits else 0


def fft_plan(n_fft: int) -> tuple[int, int, list[int]]:
    """(first_radix, first_q, radix-4 stage sizes h) of the packed complex FFT of n_fft/2 points."""
    half = n_fft // 2
    bits = half.bit_length() - 1
    first = 4 if bits % 2 == 0 else 2
    hs, h = [], first
    while h < half:
        hs.append(h)
        h *= 4
    return first, half // first, hs


def frontend_context(spec: FrontEndSpec, n_bands: int) -> dict:
    n = spec.n_fft
    if n & (n - 1) or n < 8:
        raise ValueError(f"C front end needs a power-of-two n_fft >= 8, got {n}")
    half = n // 2
    first, q, hs = fft_plan(n)
    first_rev = [_bitrev(r, (q.bit_length() - 1)) for r in range(q)]
    tw: list[complex] = []
    for h in hs:  # per radix-4 stage, k = 1..h-1: W^k, W^2k, W^3k with W = exp(-2 pi i/(4h))
        for k in range(1, h):
            tw.extend(np.exp(-2j * np.pi * np.array([k, 2 * k, 3 * k]) / (4 * h)))
    tw_len = 2 * len(tw)
    if tw_len == 0:  # no radix-4 stage (n_fft = 8): C forbids empty arrays
        tw = [1.0 + 0.0j] * 3
        tw_len = 6
    ranges = filterbank_ranges(spec, n_bands)
    kmin = ranges[0][0]
    kmax = max(start + len(w) - 1 for start, w in ranges)
    if kmax > half:
        raise ValueError(f"C front end: band reaches bin {kmax} > n_fft/2")
    sp = np.exp(-2j * np.pi * np.arange(kmin, kmax + 1) / n)
    # power spectrum plan: pairs (k, half-k) with both bins used, the rest singly (ranges inclusive)
    p_lo, p_hi = max(kmin, half - kmax, 1), half // 2
    if p_lo > p_hi:
        p_lo, p_hi = 1, 0
        singles = [(kmin, kmax), (1, 0)]
    else:
        singles = [(kmin, p_lo - 1), (half - p_lo + 1, kmax)]
    covered = sorted(
        [k for lo, hi in singles for k in range(lo, hi + 1)]
        + [k for k in range(p_lo, p_hi + 1)] + [half - k for k in range(p_lo, p_hi + 1) if half - k != k]
    )
    if covered != list(range(kmin, kmax + 1)):
        raise AssertionError(f"C front end: power plan does not cover bins {kmin}..{kmax} once")
    starts, lens, weights = [], [], []
    for start, w in ranges:
        starts.append(start - kmin)
        lens.append(len(w))
        # the split step yields |2 X[k]|^2: fold the 1/4 into the weights (exact in float32)
        weights.extend(float(np.float32(x)) * 0.25 for x in w)
    nz = (spec.win_length + 1) // 2
    # the window carries the int16 -> [-1, 1) scale 1/32768 (exact in float32), zero-padded to 2*nz
    win = [float(np.float32(v)) / 32768.0 for v in window(spec)] + [0.0] * (2 * nz - spec.win_length)
    inter = lambda z: [c_float(v) for c in z for v in (c.real, c.imag)]  # noqa: E731
    return {
        "spec": spec,
        "n_bands": n_bands,
        "nnz": len(weights),
        "log_floor": c_float(spec.log_floor),
        "digest": spec.digest(),
        "kmin": kmin,
        "kmax": kmax,
        "nz": nz,
        "pair_lo": p_lo,
        "pair_hi": p_hi,
        "sa_lo": singles[0][0],
        "sa_hi": singles[0][1],
        "sb_lo": singles[1][0],
        "sb_hi": singles[1][1],
        "first_radix": first,
        "first_q": q,
        "tw_len": tw_len,
        "window": _rows([c_float(v) for v in win]),
        "first_rev": _rows([str(b) for b in first_rev], 16),
        "fft_tw": _rows(inter(tw)),
        "split": _rows(inter(sp)),
        "band_start": ", ".join(map(str, starts)),
        "band_len": ", ".join(map(str, lens)),
        "weights": _rows([c_float(v) for v in weights]),
    }


def render_frontend(spec: FrontEndSpec, n_bands: int, out_dir: str | Path) -> list[Path]:
    """Write nb_frontend.{h,c}, nb_frontend_config.h and nb_frontend_tables.c into out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(FRONTEND_DIR)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    ctx = frontend_context(spec, n_bands)
    written = []
    for name in ("nb_frontend_config.h", "nb_frontend_tables.c"):
        p = out / name
        p.write_text(env.get_template(name + ".j2").render(**ctx))
        written.append(p)
    for name in STATIC:
        shutil.copyfile(FRONTEND_DIR / name, out / name)
        written.append(out / name)
    return written
