"""`noisebudget convert`: a consolidated StreamingVAD -> model.tflite (int8), model_float.tflite, model.onnx,
model_io.json (which input/output is the frame, the probability and each state) and verify.json.

All files are written to temporary names and renamed, so an interrupted conversion leaves no half-written
artifact next to older complete ones.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from convert.keras_vad import input_stage
from convert.tflite_export import export_onnx, export_tflite
from convert.tflite_ir import read_tflite
from convert.tflite_run import io_map
from convert.verify import verify
from train.atomic import atomic_write_bytes, atomic_write_json
from train.vad_model import StreamingVAD

INT8 = "model.tflite"
FLOAT = "model_float.tflite"
ONNX = "model.onnx"
IO = "model_io.json"
VERIFY = "verify.json"


def io_description(model: StreamingVAD, int8_bytes: bytes) -> dict[str, Any]:
    """Everything a runtime needs to stream the int8 step model: positions, shapes and quantization."""
    m = read_tflite(int8_bytes)
    iom = io_map(int8_bytes)

    def q(t) -> dict[str, Any]:
        return {"tensor": t.index, "name": t.name, "shape": list(t.shape), "dtype": str(np.dtype(t.dtype)),
                "scale": float(t.quantization.scale[0]), "zero_point": int(t.quantization.zero_point[0])}

    return {
        "io_map": asdict(iom),
        "frame": q(m.tensors[m.inputs[iom.frame]]),
        "prob": q(m.tensors[m.outputs[iom.prob]]),
        "states": [q(m.tensors[m.inputs[p]]) for p in iom.states_in],
        "input_stage": input_stage(model),
        "mel_bands": list(model.desc["mel_bands"]),
        "n_mels_full": int(model.desc["n_mels_full"]),
    }


def convert_model(
    model: StreamingVAD,
    calib_feats: list[np.ndarray],
    eval_clips: list[tuple[np.ndarray, np.ndarray]],
    out_dir: str | Path,
    *,
    seed: int = 0,
    n_calib: int = 400,
) -> dict[str, Any]:
    """Convert, verify and write the artifacts into `out_dir`. Features are log-mel of the kept bands ([T, K])."""
    out = Path(out_dir)
    t0 = time.perf_counter()
    int8_bytes, float_bytes = export_tflite(model, calib_feats, seed=seed, n_samples=n_calib)
    onnx_bytes = export_onnx(model)
    t_convert = time.perf_counter() - t0
    rep = verify(model, int8_bytes, float_bytes, onnx_bytes, eval_clips)
    rep["seconds_convert"] = t_convert
    rep["seconds_total"] = time.perf_counter() - t0
    io = io_description(model, int8_bytes)
    atomic_write_bytes(out / INT8, int8_bytes)
    atomic_write_bytes(out / FLOAT, float_bytes)
    atomic_write_bytes(out / ONNX, onnx_bytes)
    atomic_write_json(out / IO, io)
    atomic_write_json(out / VERIFY, rep)
    return rep
