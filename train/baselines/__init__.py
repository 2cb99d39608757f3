"""Baselines for the learned-width method: post-hoc pruning (L1, Torch-Pruning DepGraph), network slimming,
L0 hard-concrete gates under the same budget constraint, and uniformly scaled dense models.

    from train.baselines import run_baseline, METHODS
    res = run_baseline("l1", settings, data, budget)   # res.model: a consolidated StreamingVAD <= budget
"""

from train.baselines.methods import METHODS, BaselineResult, pretrained, run_baseline

__all__ = ["METHODS", "BaselineResult", "pretrained", "run_baseline"]
