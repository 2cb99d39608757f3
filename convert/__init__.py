"""Stage 2: consolidation, ONNX / TFLite export, verification, TFLite reader (IR), C code generation,
cross build, emulation, measurement and the budget check. May import `train`, never `noisebudget`."""
