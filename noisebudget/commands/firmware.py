"""`noisebudget firmware MODEL.tflite|RUN_DIR --target NAME -o OUT_DIR`: generate the C firmware project.

A RUN_DIR (model.tflite + model_io.json), or a .tflite with model_io.json beside it, gives the streaming VAD
library (front end, int8 model with state, post-processing, nb_vad_* API); any other int8 .tflite gives the
plain model library (nb_model_invoke). See convert/codegen.py for the layout, project.json and firmware.json.
"""

from __future__ import annotations

import argparse

NAME = "firmware"
HELP = "Generate a self-contained C99 project (our int8 kernels, static arena, example app, TFLM flavour)."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="MODEL.tflite|RUN_DIR", help="int8 .tflite model or a converted run folder")
    p.add_argument("--target", default="cortex-m4", help="target profile (noisebudget/targets/*.toml)")
    p.add_argument("-o", "--out", required=True, metavar="OUT_DIR", help="output folder (replaced)")
    p.add_argument("--threshold", type=float, default=None, help="VAD speech probability threshold (default 0.5)")
    p.add_argument("--onset-hops", type=int, default=None, help="VAD hops above threshold to start speech (1)")
    p.add_argument("--hangover-hops", type=int, default=None, help="VAD hops speech is held after (20)")
    p.add_argument("--clip", default=None, metavar="WAV", help="VAD test clip (mono 16-bit at the model's rate); "
                   "default: a synthetic 2 s clip")
    p.add_argument("--clip-seconds", type=float, default=2.0, help="length of the synthetic / cropped test clip")
    p.add_argument("--inputs", type=int, default=2, help="model test inputs (random int8, seeded) to embed")
    p.add_argument("--seed", type=int, default=0, help="seed of the test data")
    p.add_argument("--hop-rate", type=float, default=None, help="hops (invokes) per second for measurement")
    p.add_argument("--name", default=None, help="project / ELF name (default: the model or run folder name)")
    p.add_argument("--no-tflm-arena", action="store_true", help="skip measuring TFLM's arena")
    p.add_argument("--no-prepared-weights", action="store_true",
                   help="Cortex-M4/M7: keep only the TFLite weights in flash and prepare the SIMD layout of each "
                        "CONV_2D per call in RAM scratch (less flash, more RAM, a little slower)")


def _read_clip(path: str, seconds: float):
    import numpy as np
    import soundfile as sf

    from train.errors import DataError

    try:
        data, sr = sf.read(path, dtype="int16", always_2d=True)
    except Exception as e:  # soundfile raises RuntimeError / LibsndfileError
        raise DataError(f"{path}: cannot read audio ({e})") from None
    if data.shape[1] != 1:
        raise DataError(f"{path}: {data.shape[1]} channels, the test clip must be mono")
    clip = np.ascontiguousarray(data[:, 0])
    if seconds > 0:
        clip = clip[: int(seconds * sr)]
    return clip, sr


def run(args: argparse.Namespace) -> int:
    from convert.codegen import Options, format_summary, generate
    from train.errors import UsageError

    clip = None
    if args.clip:
        clip, sr = _read_clip(args.clip, args.clip_seconds)
        if sr != 16000:
            raise UsageError(f"--clip {args.clip}: sample rate {sr} Hz, the front end expects 16000 Hz")
    if args.inputs < 1:
        raise UsageError("--inputs must be >= 1")
    opts = Options(target=args.target, threshold=args.threshold, onset_hops=args.onset_hops,
                   hangover_hops=args.hangover_hops, clip=clip, clip_seconds=args.clip_seconds,
                   n_test_inputs=args.inputs, seed=args.seed, tflm_arena=not args.no_tflm_arena,
                   hop_rate_hz=args.hop_rate, name=args.name, prepared_weights=not args.no_prepared_weights)
    info = generate(args.source, args.out, opts)
    print(format_summary(info))
    print(f"build: make -C {args.out} host | m4 | m7 | m55 | run-qemu;  measure: noisebudget measure {args.out}")
    return 0
