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


def frontend_context(spec: FrontEndSpec, n_bands: int) -> dict:
    n = spec.n_fft
    if n & (n - 1) or n < 8:
        raise ValueError(f"C front end needs a power-of-two n_fft >= 8, got {n}")
    half = n // 2
    k = np.arange(half // 2)
    tw = np.exp(-2j * np.pi * k / half)
    sp = np.exp(-2j * np.pi * k / n)
    bits = half.bit_length() - 1
    bitrev = [int(f"{i:0{bits}b}"[::-1], 2) for i in range(half)]
    ranges = filterbank_ranges(spec, n_bands)
    starts, lens, offs, weights = [], [], [], []
    for start, w in ranges:
        starts.append(start)
        lens.append(len(w))
        offs.append(len(weights))
        weights.extend(float(x) for x in w)
    inter = lambda z: [c_float(v) for c in z for v in (c.real, c.imag)]  # noqa: E731
    return {
        "spec": spec,
        "n_bands": n_bands,
        "nnz": len(weights),
        "log_floor": c_float(spec.log_floor),
        "digest": spec.digest(),
        "window": _rows([c_float(v) for v in window(spec)]),
        "twiddle": _rows(inter(tw)),
        "split": _rows(inter(sp)),
        "bitrev": _rows([str(b) for b in bitrev], 16),
        "band_start": ", ".join(map(str, starts)),
        "band_len": ", ".join(map(str, lens)),
        "band_offset": ", ".join(map(str, offs)),
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
