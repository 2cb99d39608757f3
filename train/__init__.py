"""Stage 1: data, features, the noise-width method, cost model, models, trainer, baselines, metrics.

`train` never imports `convert` or `noisebudget`.
"""
