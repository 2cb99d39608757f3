# Cortex-M55 (Armv8.1-M mainline): GCC 12's -mcpu=cortex-m55 enables MVE integer + float (Helium,
# "+mve.fp") and the double-precision FPU by default; "-mcpu=cortex-m55+nomve.fp" keeps integer MVE only,
# "+nomve" drops MVE. Hard-float ABI.
NB_CPU := cortex-m55
NB_CPU_FLAGS := -mcpu=cortex-m55 -mthumb -mfloat-abi=hard
