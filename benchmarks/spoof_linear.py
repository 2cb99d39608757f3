"""Trivial baseline for the spoof corpus: logistic regression on the utterance-mean log-mel (train.frontend).

A 1-layer linear model (40 weights + bias) trained on train (class-balanced, L2, L-BFGS), scored on dev and
test; EER pooled, on seen / unseen attacks and per attack (each attack vs all bona fide). It exists to show
that the corpus has no trivial shortcut: its test EER should stay well above ~15 %.

    .venv/bin/python benchmarks/spoof_linear.py --corpus .cache/corpus/spoof-30m-s0 --out runs/benchmarks/spoof_linear

Also works on an ASVspoof 2019 LA root (`--corpus /data/LA`). Writes table.txt, results.json, eer.png.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def mean_logmel(utts, progress: bool = True, stats: str = "mean") -> np.ndarray:
    from tqdm import tqdm

    from train.data.spoof import read_utt
    from train.frontend import FrontEndSpec, features_numpy

    spec = FrontEndSpec()
    out = []
    for u in tqdm(utts, desc="features", disable=not progress, leave=False):
        f = features_numpy(read_utt(u), spec)
        out.append(np.concatenate([f.mean(0), f.std(0)]) if stats == "meanstd" else f.mean(0))
    return np.asarray(out, dtype=np.float64)


def fit_logreg(x: np.ndarray, y: np.ndarray, l2: float = 1e-2) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """(w, b, mu, sd): class-balanced L2 logistic regression on standardised features; y = 1 for bona fide."""
    from scipy.optimize import minimize

    mu, sd = x.mean(0), x.std(0) + 1e-8
    z = (x - mu) / sd
    cw = np.where(y == 1, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9)) / len(y)

    def f(theta):
        w, b = theta[:-1], theta[-1]
        s = z @ w + b
        p = 1 / (1 + np.exp(-s))
        loss = np.sum(cw * (np.logaddexp(0, s) - y * s)) + 0.5 * l2 * w @ w
        g = cw * (p - y)
        return loss, np.r_[z.T @ g + l2 * w, g.sum()]

    r = minimize(f, np.zeros(z.shape[1] + 1), jac=True, method="L-BFGS-B", options={"maxiter": 1000})
    return r.x[:-1], float(r.x[-1]), mu, sd


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", default=".cache/corpus/spoof-30m-s0", help="spoof corpus or ASVspoof 2019 LA root")
    p.add_argument("--out", default="runs/benchmarks/spoof_linear")
    p.add_argument("--build", action="store_true", help="build the corpus first if it is missing (30 min, seed 0)")
    p.add_argument("--stats", default="mean", choices=["mean", "meanstd"],
                   help="utterance features: mean log-mel (default) or mean+std")
    p.add_argument("--l2", type=float, default=1e-2)
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from train.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
    from train.data.spoof import load_spoof
    from train.spoof_metrics import summarize

    corpus = Path(a.corpus)
    if not corpus.exists() and a.build:
        from train.data.spoof_build import build_spoof_corpus

        build_spoof_corpus(corpus, 30.0, 0, progress=not a.quiet)
    utts = load_spoof(corpus)
    by = {s: [u for u in utts if u.split == s] for s in ("train", "dev", "test")}
    feats = {s: mean_logmel(v, not a.quiet, a.stats) for s, v in by.items() if v}
    y = np.array([u.is_bonafide for u in by["train"]], dtype=np.float64)
    w, b, mu, sd = fit_logreg(feats["train"], y, a.l2)
    res = {}
    for s in ("train", "dev", "test"):
        if s in feats:
            scores = ((feats[s] - mu) / sd) @ w + b
            res[s] = summarize(scores, by[s])
    attacks = sorted({k for r in res.values() for k in r["per_attack"]})
    unseen = sorted({u.attack for u in utts if not u.attack_seen})
    pct = lambda v: "    -" if v is None or v != v else f"{100 * v:5.1f}"  # noqa: E731
    minutes = sum(u.duration_s for u in utts) / 60
    lines = [f"linear (logistic regression on utterance {a.stats} log-mel, {feats['train'].shape[1]} features) "
             f"on {corpus} ({len(utts)} utterances, {minutes:.1f} min)",
             "EER % (each spoof attack vs all bona fide of the split); * = unseen in train", ""]
    head = f"{'split':6} {'n_bona':>6} {'n_spoof':>7} {'pooled':>6} {'seen':>5} {'unseen':>6}  " + " ".join(
        f"{(x + ('*' if x in unseen else ''))[:12]:>12}" for x in attacks)
    lines.append(head)
    for s, r in res.items():
        lines.append(f"{s:6} {r['n_bonafide']:>6} {r['n_spoof']:>7} {pct(r['pooled']):>6} {pct(r['seen']):>5} "
                     f"{pct(r['unseen']):>6}  " + " ".join(f"{pct(r['per_attack'].get(x)):>12}" for x in attacks))
    text = "\n".join(lines) + "\n"
    print(text, end="")
    out = Path(a.out)
    atomic_write_text(out / "table.txt", text)
    atomic_write_json(out / "results.json", {"corpus": str(corpus), "features": a.stats, "l2": a.l2, "splits": res})

    fig, ax = plt.subplots(figsize=(max(6, 0.8 * (len(attacks) + 3)), 4))
    names = ["pooled", "seen", "unseen", *attacks]
    r = res["test"]
    vals = [r["pooled"], r["seen"], r["unseen"], *(r["per_attack"].get(x, np.nan) for x in attacks)]
    colors = ["k", "tab:blue", "tab:red", *("tab:red" if x in unseen else "tab:blue" for x in attacks)]
    ax.bar(range(len(names)), [100 * v for v in vals], color=colors)
    ax.axhline(15, color="grey", ls="--", lw=1, label="15 %: below this the corpus would have a shortcut")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_xticks(range(len(names)), [n + ("*" if n in unseen else "") for n in names], rotation=45, ha="right")
    ax.set_ylabel("test EER (%)")
    ax.set_title("mean log-mel logistic regression (red / * = attacks unseen in train)")
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    atomic_write_bytes(out / "eer.png", buf.getvalue())
    print(f"wrote {out / 'table.txt'}, {out / 'eer.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
