/* nb_pad.h - int8 PAD / PADV2 over up to 4 dimensions (leading dims padded with
 * size 1, zero padding), bit-exact to TFLM reference_ops::Pad. The pad value is
 * the output zero point for PAD, the constant for PADV2. */
#ifndef NB_PAD_H
#define NB_PAD_H

#include "nb_common.h"

typedef struct {
    int32_t in_shape[4];
    int32_t pad_before[4];
    int32_t pad_after[4];
    int32_t pad_value;
} nb_pad_params_t;

void nb_pad(const nb_pad_params_t *p, const int8_t *input, int8_t *output);

#endif /* NB_PAD_H */
