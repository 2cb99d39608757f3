"""Evaluation harness: run scorers (peer VADs, later our models) causally over a corpus split, on the common
10 ms grid, and report frame metrics with a table, a JSON file and a ROC plot.

A scorer is anything with `name`, `cost` (`Cost`), `default_threshold` and `score_clip(audio) -> scores[T]`
(see `train.peers.base`). Our own models plug in in two ways:
- `FeatureModelScorer(name, fn, spec, n_bands, cost)`: wraps a function of our log-mel features [T, K] -> [T]
  (a torch checkpoint, a TFLite interpreter run frame by frame, ...) with our front end;
- `load_model_scorer(path)` (`noisebudget eval --model PATH`): a training run folder is loaded with
  `train.run_dir.load_run` (`run_dir_scorer`); a file goes to the loader registered for its suffix
  (`register_model_loader`; the CLI registers `convert.tflite_scorer` for .tflite).

Operating points: "dev95" = the threshold that gives 95 % recall on the dev split's speech frames (chosen per
scorer on dev, applied to test), and each scorer's own default threshold.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from train.atomic import atomic_path, atomic_write_json, atomic_write_text
from train.errors import DataError, UsageError
from train.featcache import check_corpus, read_clip_checked, split_clips
from train.frontend import FrontEndSpec, features_numpy, frontend_macs
from train.metrics import ClipScores, evaluate_scorer, pooled_roc
from train.peers import DEFAULT_PEERS, make_peer
from train.peers.base import GRID_HOP, Cost, Scorer

__all__ = ["Cost", "FeatureModelScorer", "Scorer", "evaluate_scorers", "format_table", "load_model_scorer",
           "plot_roc", "run_eval", "score_split"]


@dataclass
class FeatureModelScorer:
    """A scorer from a function of our front end's features: fn(feats float32 [T, K]) -> scores [T].
    The function must be causal in time (row t of its output uses rows <= t only)."""

    name: str
    fn: Callable[[np.ndarray], np.ndarray]
    spec: FrontEndSpec = FrontEndSpec()
    n_bands: int | None = None
    model_cost: Cost = Cost()
    default_threshold: float | None = 0.5

    @property
    def cost(self) -> Cost:
        if self.model_cost.macs_per_10ms is None:
            return self.model_cost
        fe = frontend_macs(self.spec, self.n_bands)
        note = f"model {self.model_cost.macs_per_10ms:,.0f} + front end ~{fe:,} (FFT estimated)"
        return Cost(self.model_cost.params, self.model_cost.macs_per_10ms + fe,
                    "; ".join(x for x in (self.model_cost.note, note) if x))

    def score_clip(self, audio: np.ndarray) -> np.ndarray:
        feats = features_numpy(audio, self.spec, self.n_bands)
        out = np.asarray(self.fn(feats), dtype=np.float64).ravel()
        if out.size != feats.shape[0]:
            raise ValueError(f"scorer {self.name}: {out.size} scores for {feats.shape[0]} frames")
        return out


def run_dir_scorer(run_dir: str | os.PathLike[str], name: str | None = None) -> FeatureModelScorer:
    """Scorer of a training run folder (`train.run_dir`): our front end (spec recorded in the run) -> the
    consolidated causal model over the whole clip -> sigmoid. Cost = the run's exact per-hop MACs and params
    + the front end up to the highest kept mel band."""
    import torch

    from train.run_dir import load_run

    run = load_run(run_dir)
    spec = FrontEndSpec.from_dict(run.frontend) if run.frontend else FrontEndSpec()
    model = run.model.eval()
    bands = [int(b) for b in run.description["mel_bands"]]
    idx = torch.tensor(bands, dtype=torch.long)

    @torch.no_grad()
    def fn(feats: np.ndarray) -> np.ndarray:
        if feats.shape[0] == 0:
            return np.zeros(0)
        x = torch.from_numpy(np.ascontiguousarray(feats))[None][..., idx]
        return torch.sigmoid(model(x))[0].double().numpy()

    c = run.cost
    macs = c.get("macs_per_hop")
    cost = Cost(params=c.get("params"), macs_per_10ms=float(macs) if macs is not None else None,
                note=f"{len(bands)} mel bands; model MACs from {run.path.name}/cost.json")
    return FeatureModelScorer(name or run.path.name, fn, spec, n_bands=max(bands) + 1, model_cost=cost,
                              default_threshold=0.5)


MODEL_LOADERS: dict[str, Callable[[Path], Scorer]] = {}


def register_model_loader(suffix: str, loader: Callable[[Path], Scorer]) -> None:
    """Let a later stage (e.g. `convert` for .tflite files) provide scorers for files ending in `suffix`."""
    MODEL_LOADERS[suffix] = loader


def load_model_scorer(path: str | os.PathLike[str]) -> Scorer:
    """A run folder (model/arch.json inside) -> `run_dir_scorer`; a file -> the loader registered for its
    suffix (`register_model_loader`; the CLI registers `.tflite`)."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"--model: {p} does not exist")
    if p.is_dir() and (p / "model" / "arch.json").is_file():
        return run_dir_scorer(p)
    if p.suffix in MODEL_LOADERS:
        return MODEL_LOADERS[p.suffix](p)
    raise UsageError(f"--model {p}: not a run folder (no model/arch.json) and not one of "
                     f"{sorted(MODEL_LOADERS) or 'the registered file types'}")


def score_split(scorers: Sequence[Scorer], corpus_dir: str | os.PathLike[str], split: str, *,
                max_clips: int | None = None, progress: bool = True) -> dict[str, list[ClipScores]]:
    """Scores of every scorer on every clip of a split (each clip read once)."""
    from tqdm import tqdm

    d = check_corpus(corpus_dir)
    clips = split_clips(d, split)
    if max_clips is not None:
        clips = clips[:max_clips]
    out: dict[str, list[ClipScores]] = {s.name: [] for s in scorers}
    for clip in tqdm(clips, desc=f"scoring {split}", disable=not progress, leave=False):
        audio, labels = read_clip_checked(d, clip, GRID_HOP)
        for s in scorers:
            sc = np.asarray(s.score_clip(audio), dtype=np.float64)
            if sc.shape != labels.shape:
                raise DataError(f"scorer {s.name} returned {sc.shape} scores for clip {clip.id!r} with "
                                f"{labels.size} label frames")
            out[s.name].append(ClipScores(labels=labels, scores=sc, condition=str(clip.condition or ""),
                                          snr_db=clip.snr_db, negative=bool(clip.negative)))
    return out


def evaluate_scorers(scorers: Sequence[Scorer], test: dict[str, list[ClipScores]],
                     dev: dict[str, list[ClipScores]] | None = None) -> dict[str, dict]:
    res = {}
    for s in scorers:
        r = evaluate_scorer(test[s.name], dev[s.name] if dev else None, default_threshold=s.default_threshold)
        c = s.cost
        r["cost"] = {"params": c.params, "macs_per_10ms": c.macs_per_10ms, "note": c.note}
        res[s.name] = r
    return res


def _f(x: Any, fmt: str) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


TABLE_COLUMNS = ("peer", "AUC", "EER", "AUC±100ms", "thr@dev95", "recall", "F1", "miss", "FA", "FA_neg",
                 "onset_ms", "F1@def", "FA_neg@def", "onset@def", "params", "MACs/10ms")


def table_rows(results: dict[str, dict]) -> list[list[str]]:
    rows = []
    for name, r in results.items():
        m, dflt, c = r["dev95"], r.get("default"), r["cost"]
        rows.append([
            name, _f(m["auc"], ".4f"), _f(m["eer"], ".4f"), _f(m["auc_collar"], ".4f"),
            _f(m["threshold"], ".3g"),
            _f(m["recall"], ".3f"), _f(m["f1"], ".3f"), _f(m["miss"], ".3f"), _f(m["fa"], ".3f"),
            _f(m["fa_neg"], ".3f"), _f(m["latency_ms_median"], ".0f"),
            _f(dflt["f1"] if dflt else None, ".3f"), _f(dflt["fa_neg"] if dflt else None, ".3f"),
            _f(dflt["latency_ms_median"] if dflt else None, ".0f"),
            _f(c["params"], ",d"), _f(c["macs_per_10ms"], ",.0f"),
        ])
    return rows


def format_table(results: dict[str, dict], *, markdown: bool = False) -> str:
    rows = [list(TABLE_COLUMNS)] + table_rows(results)
    if markdown:
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    else:
        w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(v.rjust(w[i]) if i else v.ljust(w[i]) for i, v in enumerate(r)) for r in rows]
    notes = [f"- {n}: {r['cost']['note']}" for n, r in results.items() if r["cost"]["note"]]
    legend = ("AUC/EER pooled over test frames; AUC±100ms excludes frames within 100 ms of a label change; "
              "thr@dev95 = threshold giving 95% recall on dev speech frames, applied to test "
              "(recall..onset_ms at it); FA_neg = false-alarm rate on pure-negative clips; onset_ms = median "
              "time from a speech onset to the first positive decision; @def = the scorer's own threshold; "
              "MACs/10ms include the scorer's front end where known.")
    return "\n".join(lines) + "\n\n" + legend + "\n" + "\n".join(notes) + "\n"


def plot_roc(test: dict[str, list[ClipScores]], results: dict[str, dict], path: str | os.PathLike[str],
             title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8))
    for name, clips in test.items():
        fpr, tpr = pooled_roc(clips)
        r = results[name]["dev95"]
        for ax in axes:
            (line,) = ax.plot(fpr, tpr, label=f"{name} (AUC {_f(r['auc'], '.3f')})", lw=1.4)
            if not math.isnan(r["fa"]):
                ax.plot([r["fa"]], [r["recall"]], "o", color=line.get_color(), ms=5)
    axes[0].plot([0, 1], [0, 1], ":", color="grey", lw=0.8)
    axes[0].set_title("ROC (pooled 10 ms frames)")
    axes[1].set_xlim(0, 0.2)
    axes[1].set_ylim(0.5, 1.0)
    axes[1].set_title("zoom; dots = dev-95%-recall threshold on test")
    for ax in axes:
        ax.set_xlabel("false-alarm rate")
        ax.set_ylabel("speech recall")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def build_scorers(peers: Sequence[str], model: str | None = None, *, explicit: bool = True
                  ) -> tuple[list[Scorer], list[str]]:
    """Scorers for the peer names (+ our model). With explicit=False, optional peers that cannot be loaded
    (ten) are dropped with a warning instead of an error."""
    scorers, warnings = [], []
    for name in peers:
        try:
            scorers.append(make_peer(name))
        except UsageError as e:
            if explicit or name != "ten":
                raise
            warnings.append(f"skipped optional peer: {e}")
    if model:
        scorers.append(load_model_scorer(model))
    names = [s.name for s in scorers]
    if len(set(names)) != len(names):
        raise UsageError(f"two scorers share a name: {names}")
    return scorers, warnings


def run_eval(corpus_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
             peers: Sequence[str] | None = None, model: str | None = None, split: str = "test",
             dev_split: str | None = "dev", max_clips: int | None = None, progress: bool = True) -> dict:
    """Score, evaluate, write `<out>/results.json`, `table.txt`, `table.md`, `breakdown.txt`, `roc.png`."""
    d = check_corpus(corpus_dir)
    scorers, warnings = build_scorers(list(peers) if peers is not None else list(DEFAULT_PEERS), model,
                                      explicit=peers is not None)
    if not scorers:
        raise UsageError("nothing to evaluate: no peers and no --model")
    split_clips(d, split)  # fail early on an empty split
    test = score_split(scorers, d, split, max_clips=max_clips, progress=progress)
    dev = score_split(scorers, d, dev_split, max_clips=max_clips, progress=progress) if dev_split else None
    results = evaluate_scorers(scorers, test, dev)
    out = Path(out_dir)
    meta = {"corpus": str(d), "split": split, "dev_split": dev_split, "clips": len(next(iter(test.values()))),
            "scorers": [s.name for s in scorers], "warnings": warnings, "grid_hop_samples": GRID_HOP}
    atomic_write_json(out / "results.json", {"meta": meta, "results": results})
    atomic_write_text(out / "table.txt", format_table(results))
    atomic_write_text(out / "table.md", format_table(results, markdown=True))
    atomic_write_text(out / "breakdown.txt", "\n\n".join(
        f"{m} by {k.removeprefix('by_')} (dev95 threshold)\n" + format_breakdown(results, k, m)
        for k in ("by_condition", "by_snr") for m in ("auc", "f1", "fa")) + "\n")
    plot_roc(test, results, out / "roc.png", title=f"{d.name} / {split}")
    return {"meta": meta, "results": results}


def format_breakdown(results: dict[str, dict], key: str = "by_condition", metric: str = "auc") -> str:
    """One row per group (condition or SNR bin), one column per scorer: `metric` at the dev95 threshold."""
    groups = list(dict.fromkeys(g for r in results.values() for g in r[key]))  # in the metrics' order
    names = list(results)
    rows = [[key.removeprefix("by_"), "frames", *names]]
    for g in groups:
        first = next((r[key][g] for r in results.values() if g in r[key]), {})
        rows.append([g, str(first.get("frames", "")),
                     *[_f(results[n][key].get(g, {}).get(metric), ".3f") for n in names]])
    w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(v.rjust(w[i]) if i else v.ljust(w[i]) for i, v in enumerate(r)) for r in rows)
