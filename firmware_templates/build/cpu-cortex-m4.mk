# Cortex-M4F (Armv7E-M + DSP, single-precision FPv4): hard-float ABI.
NB_CPU := cortex-m4
NB_CPU_FLAGS := -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16
