/* nb_dequantize.h - DEQUANTIZE int8 -> float32, bit-exact to TFLM
 * reference_ops::Dequantize: out = (float)((double)scale * (x - zero_point)).
 * The double product of a float32 scale and an integer in [-255, 255] is exact,
 * so one float32 multiply (correctly rounded) gives the same bits without
 * double arithmetic. Parameters from convert/quant_ops.py:dequantize_params. */
#ifndef NB_DEQUANTIZE_H
#define NB_DEQUANTIZE_H

#include "nb_common.h"

typedef struct {
    int32_t size;       /* number of elements */
    float scale;        /* input scale (float32, as stored in the model) */
    int32_t zero_point; /* input zero point */
} nb_dequantize_params_t;

void nb_dequantize(const nb_dequantize_params_t *p, const int8_t *input, float *output);

#endif /* NB_DEQUANTIZE_H */
