"""Shared fixtures for the firmware tests: a small random streaming VAD (train.vad_model, with its float input
stage) converted by `convert.convert_run.convert_model`, the same path as `noisebudget convert`."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from convert.codegen import synthetic_clip
from train.frontend import FrontEndSpec, features_numpy

N_BANDS = 12


def vad_clip(seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    return synthetic_clip(seconds, 16000, seed)


def clip_features(clip: np.ndarray, n_bands: int = N_BANDS) -> np.ndarray:
    return features_numpy(clip.astype(np.float32) / 32768.0, FrontEndSpec())[:, :n_bands].astype(np.float32)


def build_vad_run(run_dir: Path, seed: int = 0) -> Path:
    """A small random StreamingVAD (with the float input stage) through the real `noisebudget convert` path:
    run_dir/{model.tflite, model_io.json, verify.json, model/arch.json, model/weights.pt}; returns run_dir."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import torch

    from convert.convert_run import convert_model
    from train.run_dir import save_model
    from train.vad_model import VADArch, VADNet

    torch.manual_seed(seed)
    feats = [clip_features(vad_clip(2.0, s)) for s in (11, 12)]
    allf = np.concatenate(feats)
    net = VADNet(VADArch(n_mels=40, channels=[10, 8, 6], first_kernel=3, kernel=3, dilations=[2, 1]))
    with torch.no_grad():
        for w, k in zip(net.all_widths(), (N_BANDS / 40, 1.0, 1.0, 1.0), strict=True):
            w.kappa.fill_(k)
        net.set_ema_init(torch.from_numpy(np.concatenate([allf.mean(0), np.zeros(40 - N_BANDS, np.float32)])))
        net.set_normalization(torch.zeros(40), torch.full((40,), 2.0))
    model = net.eval().consolidate(extra={"frontend": FrontEndSpec().to_dict()})
    assert model.n_inputs == N_BANDS
    rng = np.random.default_rng(seed)
    clips = [(f, (rng.random(len(f)) < 0.5).astype(np.uint8)) for f in feats]
    run_dir.mkdir(parents=True, exist_ok=True)
    save_model(run_dir, model)
    convert_model(model, feats, clips, run_dir, seed=seed, n_calib=300)
    return run_dir


def cached_vad_run(run_dir: Path) -> Path:
    """build_vad_run, cached under .cache/firmware_tests/ (keyed by this file, the conversion code and the TF
    version) so parallel
    test workers and repeated runs convert once; copied into run_dir."""
    import contextlib
    import hashlib
    import shutil
    import tempfile

    import tensorflow as tf

    root = Path(__file__).resolve().parents[1] / ".cache" / "firmware_tests"
    code = Path(__file__).resolve().parents[1]
    blob = b"".join(p.read_bytes() for p in [Path(__file__), *sorted((code / "convert").glob("*.py")),
                                               code / "train" / "vad_model.py"])
    key = hashlib.sha256(blob + tf.__version__.encode()).hexdigest()[:16]
    cached = root / f"vad_run_{key}"
    if not (cached / "model_io.json").is_file():
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".vad_run.", dir=root))
        build_vad_run(tmp / "run")
        with contextlib.suppress(OSError):  # another worker finished first
            os.replace(tmp / "run", cached)
        shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(cached, run_dir)
    return run_dir
