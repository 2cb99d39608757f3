"""noisebudget: learned-width speech models that provably fit a Cortex-M budget."""

__version__ = "0.1.0"
