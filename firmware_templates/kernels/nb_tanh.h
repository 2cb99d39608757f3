/* nb_tanh.h - int8 TANH, bit-exact to TFLM reference_integer_ops::Tanh:
 *
 *   x = in - input_zero_point
 *   x <= -radius -> -128;  x >= radius -> 127;
 *   else q4 = MultiplyByQuantizedMultiplier(x, input_multiplier, input_left_shift)
 *        out = clamp(RoundingDivideByPOT(tanh_q4(q4), 24))
 *
 * Output quantization is fixed by the int8 spec: scale 1/128, zero point 0.
 * Parameters from convert/quant_ops.py:tanh_params. Elementwise over `size`. */
#ifndef NB_TANH_H
#define NB_TANH_H

#include "nb_common.h"

typedef struct {
    int32_t size;               /* number of elements */
    int32_t input_zero_point;
    int32_t input_range_radius; /* CalculateInputRadius(4, input_left_shift, 31) */
    int32_t input_multiplier;   /* round(frexp(input_scale * 2^27).q * 2^31) */
    int32_t input_left_shift;   /* frexp exponent (shift > 0 = left) */
} nb_tanh_params_t;

void nb_tanh(const nb_tanh_params_t *p, const int8_t *input, int8_t *output);

#endif /* NB_TANH_H */
