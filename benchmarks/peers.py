"""Peer VADs next to our models: the same test split scored by the peers of `train.peers` (silero-vad, webrtcvad
modes 2 and 3, pulsevad, the energy baseline, ten-vad if installed) through `train.evaluate`, with their cost
columns, and our models at each budget from a Pareto sweep (`benchmarks/pareto.py`, mean ± std over seeds).

    .venv/bin/python benchmarks/peers.py --corpus /tmp/nbc60/corpus --sweep runs/benchmarks/pareto-e8 \
        --out runs/benchmarks/peers
    # reuse an existing `noisebudget eval` result of the same corpus instead of scoring again:
    .venv/bin/python benchmarks/peers.py --peer-results runs/eval/vad-60m-s0-test/results.json --sweep ... --out ...

Peer scores are computed once (OUT/eval/results.json; rerun with --rescore). Metrics are the same functions
(`train.metrics`) on the same 10 ms frames: AUC/EER pooled over test frames, F1 and FA on negatives at the
threshold giving 95 % recall on dev. Costs: peers' MACs per 10 ms include their front end where known (see the
notes); ours are the int8 .tflite's MACs per hop plus our log-mel front end (`train.frontend.frontend_macs`
with all 40 bands: an upper bound, the kept bands need less).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def peer_results(corpus: str | None, out: Path, *, peers: list[str] | None, given: str | None,
                 rescore: bool, max_clips: int | None) -> dict[str, Any]:
    if given:
        return json.loads(Path(given).read_text())
    cached = out / "eval" / "results.json"
    if cached.is_file() and not rescore:
        return json.loads(cached.read_text())
    if not corpus:
        raise SystemExit("peers.py: give --corpus (or --peer-results)")
    from train.evaluate import run_eval

    return run_eval(corpus, out / "eval", peers=peers, max_clips=max_clips)


def _fmt(x: Any, fmt: str) -> str:
    return "n/a" if x is None else format(x, fmt)


def combined_rows(peers: dict[str, Any], sweep: str | None) -> list[list[str]]:
    rows = []
    for name, r in peers["results"].items():
        m, c = r["dev95"], r["cost"]
        rows.append([f"peer: {name}", "", _fmt(m["auc"], ".4f"), _fmt(m["eer"], ".4f"), _fmt(m["f1"], ".3f"),
                     _fmt(m["fa_neg"], ".4f"), _fmt(c["params"], ",d"), _fmt(c["macs_per_10ms"], ",.0f")])
    if sweep:
        from benchmarks_pareto import LABELS, aggregate, load_results

        from train.frontend import FrontEndSpec, frontend_macs

        fe = frontend_macs(FrontEndSpec(), None)
        for a in aggregate(load_results(sweep)):
            def ms(k: str, fmt: str, a=a) -> str:
                v = a[k]
                if v is None:
                    return "n/a"
                return f"{format(v[0], fmt)} ± {format(v[1], fmt)}" if a["n"] > 1 else format(v[0], fmt)

            macs = a["macs_tflite"]
            rows.append([f"ours: {LABELS.get(a['method'], a['method'])}", f"{a['budget']:,} (n={a['n']})",
                         ms("test_auc", ".4f"), ms("test_eer", ".4f"), ms("test_f1", ".3f"), ms("test_fa_neg", ".4f"),
                         ms("params", ",.0f"), "n/a" if macs is None else f"{macs[0] + fe:,.0f}"])
    return rows


def format_table(rows: list[list[str]], notes: list[str]) -> str:
    head = ["scorer", "budget (MACs/hop)", "test AUC", "EER", "F1@dev95", "FA neg@dev95", "params", "MACs/10ms"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines + [""] + notes)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", help="corpus folder (the sweep's corpus)")
    ap.add_argument("--sweep", help="a pareto.py sweep folder (results/*.json)")
    ap.add_argument("--out", default="runs/benchmarks/peers")
    ap.add_argument("--peers", help="comma separated peer names (default: all available)")
    ap.add_argument("--peer-results", help="an existing `noisebudget eval` results.json of the same corpus")
    ap.add_argument("--rescore", action="store_true", help="score the peers again")
    ap.add_argument("--max-clips", type=int, default=None, help="limit clips per split (smoke tests)")
    a = ap.parse_args(argv)
    out = Path(a.out)
    peers = [p.strip() for p in a.peers.split(",")] if a.peers else None
    res = peer_results(a.corpus, out, peers=peers, given=a.peer_results, rescore=a.rescore, max_clips=a.max_clips)
    if a.sweep and "benchmarks_pareto" not in sys.modules:
        _load_pareto()
    from train.atomic import atomic_write_text
    from train.frontend import FrontEndSpec, frontend_macs

    notes = [f"- peer {n}: {r['cost']['note']}" for n, r in res["results"].items() if r["cost"]["note"]]
    notes.append(f"- ours: MACs/10ms = int8 .tflite MACs per hop (mean) + log-mel front end "
                 f"~{frontend_macs(FrontEndSpec(), None):,} (40 bands, FFT estimated); test split of "
                 f"{res['meta']['corpus']}")
    table = format_table(combined_rows(res, a.sweep), notes)
    atomic_write_text(out / "peers_vs_ours.md", table + "\n")
    print(table)
    return 0


def _load_pareto():
    import importlib.util

    spec = importlib.util.spec_from_file_location("benchmarks_pareto", ROOT / "benchmarks" / "pareto.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules["benchmarks_pareto"] = mod  # dataclasses look their module up while executing it
    spec.loader.exec_module(mod)
    return mod


if __name__ == "__main__":
    raise SystemExit(main())
