# Cortex-M7 (Armv7E-M + DSP, double-precision FPv5): hard-float ABI.
NB_CPU := cortex-m7
NB_CPU_FLAGS := -mcpu=cortex-m7 -mthumb -mfloat-abi=hard -mfpu=fpv5-d16
