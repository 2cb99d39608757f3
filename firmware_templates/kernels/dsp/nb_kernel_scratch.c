/* nb_kernel_scratch.c - the static scratch buffer of the DSP kernel variants (see nb_dsp.h). */
#include "nb_dsp.h"

int32_t nb_kernel_scratch[(NB_KERNEL_SCRATCH_BYTES + 3) / 4];
