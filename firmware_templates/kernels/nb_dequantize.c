/* nb_dequantize.c - DEQUANTIZE, see nb_dequantize.h. */
#include "nb_dequantize.h"

void nb_dequantize(const nb_dequantize_params_t *p, const int8_t *input, float *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = p->scale * (float)((int32_t)input[i] - p->zero_point);
    }
}
