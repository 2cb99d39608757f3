# QEMU board mps2-an386 (cortex-m4).
NB_BOARD := mps2-an386
NB_QEMU_MACHINE := mps2-an386
NB_BOARD_CPU := cortex-m4
