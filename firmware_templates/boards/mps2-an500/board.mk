# QEMU board mps2-an500 (cortex-m7).
NB_BOARD := mps2-an500
NB_QEMU_MACHINE := mps2-an500
NB_BOARD_CPU := cortex-m7
