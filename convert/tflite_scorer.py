"""`noisebudget eval --model FILE.tflite`: score clips with an int8 VAD step model as the firmware runs it.

Needs `model_io.json` next to the model (written by `noisebudget convert`); the front-end spec comes from
`model/arch.json` next to it when present (else the default spec). Per hop: numpy log-mel of the kept bands ->
the float input stage -> int8 quantization -> the TFLite Micro interpreter (the ground truth of our kernels)
with its streaming state -> dequantized probability.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from convert.keras_vad import apply_input_stage
from convert.ops import op_cost
from convert.tflite_ir import read_tflite
from convert.tflite_run import StepRunner
from train.errors import DataError
from train.evaluate import FeatureModelScorer
from train.frontend import FrontEndSpec
from train.peers.base import Cost


def tflite_scorer(path: Path, backend: str = "tflm") -> FeatureModelScorer:
    path = Path(path)
    io_path = path.parent / "model_io.json"
    if not io_path.is_file():
        raise DataError(f"--model {path}: no model_io.json next to it (run `noisebudget convert` on its run folder)")
    try:
        io = json.loads(io_path.read_text())
        bands = [int(b) for b in io["mel_bands"]]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise DataError(f"{io_path}: not a model_io.json ({e})") from None
    arch = path.parent / "model" / "arch.json"
    fe = json.loads(arch.read_text()).get("frontend") if arch.is_file() else None
    spec = FrontEndSpec.from_dict(fe) if fe else FrontEndSpec()
    buf = path.read_bytes()
    runner = StepRunner(buf, backend)
    stage = io.get("input_stage", {})

    def fn(feats: np.ndarray) -> np.ndarray:
        if feats.shape[0] == 0:
            return np.zeros(0)
        return runner.run_clip(apply_input_stage(stage, feats[:, bands]))[1].astype(np.float64)

    model = read_tflite(buf)
    costs = [op_cost(model.main, op) for op in model.main.operators]
    cost = Cost(params=sum(c.params for c in costs), macs_per_10ms=float(sum(c.macs for c in costs)),
                note=f"{len(bands)} mel bands; int8 model MACs counted on {path.name}")
    return FeatureModelScorer(f"{path.parent.name}/{path.name}", fn, spec, n_bands=max(bands) + 1,
                              model_cost=cost, default_threshold=0.5)
