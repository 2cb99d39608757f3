"""`noisebudget data build|import|stats`: the offline VAD corpus and loaders for existing datasets."""

from __future__ import annotations

import argparse

NAME = "data"
HELP = ("build the offline VAD or anti-spoofing corpus, or import a labelled dataset "
        "(RTTM, Audacity, AVA-Speech, .scv)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    b = sub.add_parser("build", help="build the offline VAD or spoof corpus from installed Debian audio "
                                     "(deterministic)")
    b.add_argument("--task", default="vad", choices=["vad", "spoof"],
                   help="vad (speech activity) or spoof (bona fide vs TTS/vocoded speech); default vad")
    b.add_argument("--minutes", type=float, default=None, help="corpus minutes (as `run`: 60 vad, 120 spoof)")
    b.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    b.add_argument("--out", default=None, help="output folder (default .cache/corpus/<task>-<M>m-s<S>)")
    b.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    b.add_argument("--cache", default=".cache", help="cache root for decoded sources (default .cache)")
    b.add_argument("--noise-dir", action="append", default=[], metavar="DIR",
                   help="extra non-speech class folder (MUSAN music/noise, ESC-50, Speech Commands "
                        "_background_noise_); repeatable")
    b.add_argument("--speech-dir", action="append", default=[], metavar="DIR",
                   help="extra speech folder (sub-folder or Speech Commands hash = speaker); repeatable")
    b.add_argument("--synth-share", type=float, default=0.3, help="target synthetic share of speech (0.3)")
    b.add_argument("--synth-cap", type=float, default=0.35, help="hard cap of the synthetic share (0.35)")
    b.add_argument("--skip-bad", action="store_true",
                   help="skip unreadable files in --noise-dir/--speech-dir (listed in corpus.json)")
    b.add_argument("--no-g722", action="store_true", help="do not decode the 16 kHz G.722 Asterisk prompts")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    i = sub.add_parser("import", help="import audio + labels (rttm|audacity|ava|scv) into a corpus")
    i.add_argument("--format", required=True, choices=["rttm", "audacity", "ava", "scv"])
    i.add_argument("src", help="folder holding the audio and annotation files")
    i.add_argument("--out", required=True, help="output corpus folder")
    i.add_argument("--split", default="auto", help="auto (by file hash, 80/10/10) or train|dev|test")
    i.add_argument("--skip-bad", action="store_true", help="skip and report bad files instead of failing")
    i.add_argument("--quiet", action="store_true", help="no progress bar")
    b.add_argument("--held-out", default=None, metavar="A,B",
                   help="spoof: attacks kept out of train and dev (default flite,festival,lpc)")
    b.add_argument("--attacks", default=None, metavar="A,B",
                   help="spoof: attacks to use (default: all whose tools are installed)")
    s = sub.add_parser("stats", help="print the statistics of a corpus (VAD or spoof corpus, or an ASVspoof root)")
    s.add_argument("corpus", help="corpus folder")


def _print_splits(splits: dict) -> None:
    print(f"{'split':6} {'clips':>6} {'minutes':>8} {'speech':>7} {'neg':>5} {'speakers':>8} languages")
    for name, d in splits.items():
        print(f"{name:6} {d['clips']:>6} {d['minutes']:>8.2f} {d.get('speech_fraction', float('nan')):>7.3f} "
              f"{d['negative_clips']:>5} {len(d['speakers']):>8} {','.join(d['languages'])}")


def run(args: argparse.Namespace) -> int:
    import json

    from train.errors import UsageError

    if args.action == "build" and args.task == "spoof":
        return _build_spoof(args)
    if args.action == "build":
        from train.data.build import build_corpus

        if args.minutes is None:
            args.minutes = 60.0
        if args.jobs < 1:
            raise UsageError(f"--jobs must be >= 1, got {args.jobs}")
        out = build_corpus(args.out, args.minutes, args.seed, jobs=args.jobs, cache_dir=args.cache,
                           progress=not args.quiet, noise_dirs=args.noise_dir, speech_dirs=args.speech_dir,
                           synth_share=args.synth_share, synth_cap=args.synth_cap, use_g722=not args.no_g722,
                           skip_bad=args.skip_bad)
        info = json.loads((out / "corpus.json").read_text())
        print(f"corpus: {out}")
        _print_splits(info["splits"])
        print("synthetic share:", info["synthetic_speech_share"])
        print("sources used:", info["sources_used_by_category"], f"rejected: {len(info['rejected_sources'])}")
        return 0
    if args.action == "import":
        from train.data.loaders import import_dataset

        rep = import_dataset(args.format, args.src, args.out, skip_bad=args.skip_bad, split=args.split,
                             progress=not args.quiet)
        print(f"corpus: {args.out}")
        _print_splits(rep["splits"])
        for s in rep["skipped"]:
            print(f"skipped {s['file']}: {s['error']}")
        if rep["unlabelled_audio"]:
            print(f"{len(rep['unlabelled_audio'])} audio file(s) without annotations were not imported")
        return 0
    if args.action == "stats":
        from pathlib import Path

        from train.data.corpus import load_manifest, read_clip, split_stats

        if not (Path(args.corpus) / "manifest.jsonl").is_file() or (Path(args.corpus) / "spoof_corpus.json").is_file():
            from train.data.spoof import load_spoof, summary

            _print_spoof(summary(load_spoof(args.corpus)))
            return 0
        clips = load_manifest(args.corpus)
        labels = {c.id: read_clip(args.corpus, c)[1] for c in clips}
        _print_splits(split_stats(clips, labels))
        return 0
    raise UsageError("data: choose an action: build, import or stats")


def _print_spoof(summ: dict) -> None:
    print(f"{'split':6} {'utts':>6} {'minutes':>8} {'bonafide':>8} {'spoof':>6} {'speakers':>8}  attacks (unseen *)")
    for name, d in summ.items():
        unseen = set(d["unseen_attacks"])
        att = " ".join(f"{a}{'*' if a in unseen else ''}={n}" for a, n in d["attacks"].items() if a != "bonafide")
        print(f"{name:6} {d['utterances']:>6} {d['minutes']:>8.2f} {d['bonafide']:>8} {d['spoof']:>6} "
              f"{d['speakers']:>8}  {att}")


def _build_spoof(args: argparse.Namespace) -> int:
    from train.data.spoof import load_spoof, summary
    from train.data.spoof_build import build_spoof_corpus, corpus_info
    from train.errors import UsageError

    if args.jobs < 1:
        raise UsageError(f"--jobs must be >= 1, got {args.jobs}")
    kw: dict = {"use_g722": not args.no_g722}
    if args.held_out is not None:
        kw["held_out"] = tuple(a for a in args.held_out.split(",") if a)
    if args.attacks is not None:
        kw["attacks"] = tuple(a for a in args.attacks.split(",") if a)
    import time

    from noisebudget.spoof_pipeline import SpoofCorpusConfig

    minutes = SpoofCorpusConfig().minutes if args.minutes is None else args.minutes
    t0 = time.time()
    out = build_spoof_corpus(args.out, minutes, args.seed, jobs=args.jobs, cache_dir=args.cache,
                             progress=not args.quiet, **kw)
    info = corpus_info(out)
    print(f"corpus: {out}  (built in {time.time() - t0:.1f} s)")
    _print_spoof(summary(load_spoof(out)))
    print("held-out attacks (test only):", ", ".join(info["held_out"]) or "none")
    if info["rejected_sources"]:
        print(f"rejected sources: {len(info['rejected_sources'])}")
    return 0
