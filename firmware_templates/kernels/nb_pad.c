/* nb_pad.c - int8 PAD, see nb_pad.h. */
#include "nb_pad.h"

void nb_pad(const nb_pad_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t o[4];
    int32_t i0, i1, i2, i3;
    int32_t k;
    const int8_t pad_value = (int8_t)p->pad_value;
    for (k = 0; k < 4; ++k) {
        o[k] = p->pad_before[k] + p->in_shape[k] + p->pad_after[k];
    }
    for (i0 = 0; i0 < o[0]; ++i0) {
        const int in0 = i0 >= p->pad_before[0] && i0 < p->pad_before[0] + p->in_shape[0];
        for (i1 = 0; i1 < o[1]; ++i1) {
            const int in1 = in0 && i1 >= p->pad_before[1] && i1 < p->pad_before[1] + p->in_shape[1];
            for (i2 = 0; i2 < o[2]; ++i2) {
                const int in2 = in1 && i2 >= p->pad_before[2] && i2 < p->pad_before[2] + p->in_shape[2];
                for (i3 = 0; i3 < o[3]; ++i3) {
                    const int in3 = in2 && i3 >= p->pad_before[3] && i3 < p->pad_before[3] + p->in_shape[3];
                    if (in3) {
                        *output++ = input[(((i0 - p->pad_before[0]) * p->in_shape[1] + (i1 - p->pad_before[1]))
                                               * p->in_shape[2] + (i2 - p->pad_before[2]))
                                              * p->in_shape[3] + (i3 - p->pad_before[3])];
                    } else {
                        *output++ = pad_value;
                    }
                }
            }
        }
    }
}
