"""`noisebudget convert RUN_DIR`: consolidated model -> int8 TFLite Micro flatbuffer, float TFLite, ONNX,
verified (verify.json): ONNX vs torch, torch/TFLite-float/TFLite-int8 AUC, LiteRT vs TFLM op by op,
analytic MACs vs TFLite MACs op for op."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "convert"
HELP = "Convert a trained run to int8 TFLite (+ float TFLite, ONNX) and verify it (verify.json)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="run folder written by `noisebudget train`")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: RUN_DIR)")
    parser.add_argument("--calib-clips", type=int, default=64, help="training clips for calibration")
    parser.add_argument("--eval-split", default="test", choices=("dev", "test"), help="split for the AUC check")
    parser.add_argument("--eval-clips", type=int, default=0, help="limit evaluation clips (0 = all)")


def convert_run_dir(run_dir: Path, out: Path | None = None, *, calib_clips: int = 64, eval_split: str = "test",
                    eval_clips: int = 0, progress: bool = True) -> dict:
    import io

    import numpy as np

    from convert.convert_run import convert_model
    from noisebudget.config import config_from_dict
    from noisebudget.pipeline import resolve_corpus
    from train.errors import DataError
    from train.frontend import FrontEndSpec
    from train.run_dir import load_run
    from train.vad_train import load_splits

    run = load_run(run_dir)
    if not run.config_text:
        raise DataError(f"run folder {run_dir}: no config.toml (which corpus trained it?)")
    import tomllib

    cfg = config_from_dict(tomllib.load(io.BytesIO(run.config_text.encode())), source=str(run_dir / "config.toml"))
    spec = FrontEndSpec.from_dict(run.frontend) if run.frontend else FrontEndSpec(**vars(cfg.frontend))
    corpus = resolve_corpus(cfg, progress=progress)
    data = load_splits(corpus, spec, splits=("train", eval_split))
    model = run.model
    rng = np.random.default_rng(cfg.train.seed)
    tr = data["train"]
    pick = rng.permutation(len(tr.feats))[:calib_clips]
    bands = model.desc["mel_bands"]
    calib = [tr.feats[i][:, bands] for i in sorted(pick)]
    ev = data[eval_split]
    n = len(ev.feats) if eval_clips <= 0 else min(eval_clips, len(ev.feats))
    clips = [(ev.feats[i][:, bands], ev.labels[i]) for i in range(n)]
    return convert_model(model, calib, clips, out or run_dir, seed=cfg.train.seed)


def format_report(rep: dict) -> str:
    a, m, li = rep["auc"], rep["macs"], rep["litert_vs_tflm"]
    lines = [
        f"MACs per hop: analytic {m['analytic_total']:,} | TFLite {m['tflite_total']:,} | "
        f"op for op equal: {m['equal']}",
        f"AUC ({a['clips']} clips, {a['frames']:,} frames): torch float {a['auc_torch_float']:.4f} | "
        f"TFLite float {a['auc_tflite_float']:.4f} | TFLite int8 {a['auc_tflite_int8']:.4f} | "
        f"int8 drop {a['auc_drop_int8']:+.4f} ({'ok' if a['auc_drop_ok'] else 'TOO LARGE'})",
        f"ONNX vs torch max |diff|: {rep['onnx_max_abs_diff']:.2e} ({'ok' if rep['onnx_ok'] else 'FAIL'})",
        f"LiteRT vs TFLM: whole clips {li['whole_clips']['frames_differing']}/{li['whole_clips']['frames']} "
        f"frames differ (max {li['whole_clips']['max_lsb']} LSB); op by op over {li['op_steps']} hops: "
        + ("bit-exact" if li["ops_bit_exact"] else
           "; ".join(f"op {s['index']} {s['op']} ({s['size']} elems): {s['elements_differing']} differ, "
                     f"max {s['max_lsb']} LSB" for s in li["per_op"] if s["elements_differing"])),
        f"conversion {rep['seconds_convert']:.1f} s, with verification {rep['seconds_total']:.1f} s",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from train.spoof_train import is_spoof_run

    if is_spoof_run(args.run_dir):  # anti-spoofing run (model/arch.json family): window model, EER checks
        from convert.spoof_export import format_report as spoof_report
        from noisebudget.spoof_pipeline import convert_spoof_run

        rep = convert_spoof_run(Path(args.run_dir), Path(args.out) if args.out else None,
                                eval_split=args.eval_split, eval_windows=args.eval_clips)
        print(spoof_report(rep))
        return 0 if rep["ok"] else 1
    rep = convert_run_dir(Path(args.run_dir), Path(args.out) if args.out else None, calib_clips=args.calib_clips,
                          eval_split=args.eval_split, eval_clips=args.eval_clips)
    print(format_report(rep))
    return 0 if rep["ok"] else 1
