# QEMU board mps3-an547 (cortex-m55).
NB_BOARD := mps3-an547
NB_QEMU_MACHINE := mps3-an547
NB_BOARD_CPU := cortex-m55
