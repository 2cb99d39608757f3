"""Where the shared reference models live: `../shared/models/` next to the checkout (as CI lays it out),
or $NOISEBUDGET_SHARED/models."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    for cand in (os.environ.get("NOISEBUDGET_SHARED"), ROOT.parent / "shared", "/work/shared"):
        if cand and (Path(cand) / "models").is_dir():
            return Path(cand)
    raise FileNotFoundError("shared/models not found next to the checkout; set NOISEBUDGET_SHARED")


KWS_MODEL = shared_dir() / "models" / "kws_ref_model.tflite"
