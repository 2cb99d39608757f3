"""`noisebudget eval --corpus DIR [--split test] [--peers ...] [--model PATH] [--out DIR]`.

Peer VADs (and our model) run causally on a corpus split; prints and saves a metrics table,
per-condition/SNR breakdowns and a ROC PNG."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "eval"
HELP = ("Evaluate VADs (peers: silero, webrtc2/3, pulsevad, energy, ten; and/or --model) on a corpus split: "
        "AUC, EER, F1, FA on negatives, onset latency, cost; writes table, JSON and ROC plot.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", required=True, metavar="DIR", help="corpus folder with manifest.jsonl")
    parser.add_argument("--split", default="test", help="split to evaluate (default: test)")
    parser.add_argument("--dev-split", default="dev",
                        help="split used to pick the 95%%-recall threshold "
                        "(default: dev; 'none' = use --split)")
    parser.add_argument("--peers", default=None,
                        help="comma-separated peers (default: silero,webrtc2,webrtc3,pulsevad,energy,ten; "
                             "ten skipped if not installed; webrtcN-10/-20 for 10/20 ms frames; "
                             "'none' for no peers)")
    parser.add_argument("--model", default=None, metavar="RUN_DIR|FILE.tflite",
                        help="our model to evaluate too")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="output folder (default: runs/eval/<corpus name>-<split>)")
    parser.add_argument("--max-clips", type=int, default=None, help="only the first N clips of each split")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from convert.tflite_scorer import tflite_scorer
    from train.errors import UsageError
    from train.evaluate import format_breakdown, format_table, register_model_loader, run_eval
    from train.featcache import check_corpus
    from train.peers import parse_peer_list

    register_model_loader(".tflite", tflite_scorer)
    corpus = check_corpus(args.corpus)
    if args.peers is None:
        peers = None
    elif args.peers.strip().lower() == "none":
        peers = []
    else:
        peers = parse_peer_list(args.peers)
    if peers == [] and not args.model:
        raise UsageError("--peers none needs --model")
    if args.max_clips is not None and args.max_clips < 1:
        raise UsageError(f"--max-clips must be >= 1, got {args.max_clips}")
    dev = None if args.dev_split.lower() == "none" else args.dev_split
    out = Path(args.out) if args.out else Path("runs") / "eval" / f"{corpus.name}-{args.split}"
    res = run_eval(corpus, out, peers=peers, model=args.model, split=args.split, dev_split=dev,
                   max_clips=args.max_clips, progress=not args.no_progress)
    for w in res["meta"]["warnings"]:
        print(f"warning: {w}")
    print(f"{corpus} / {args.split}: {res['meta']['clips']} clips")
    print(format_table(res["results"]))
    print("AUC by condition\n" + format_breakdown(res["results"], "by_condition", "auc") + "\n")
    print("AUC by SNR bin\n" + format_breakdown(res["results"], "by_snr", "auc") + "\n")
    print(f"wrote {out}/results.json, table.txt, table.md, breakdown.txt, roc.png")
    return 0
