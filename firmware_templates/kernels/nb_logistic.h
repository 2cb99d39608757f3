/* nb_logistic.h - int8 LOGISTIC (sigmoid), bit-exact to TFLM
 * reference_integer_ops::Logistic:
 *
 *   x = in - input_zero_point
 *   x <= -radius -> -128;  x >= radius -> 127;
 *   else q4 = MultiplyByQuantizedMultiplier(x, input_multiplier, input_left_shift)
 *        out = clamp(RoundingDivideByPOT(logistic_q4(q4), 23) - 128)
 *
 * Output quantization is fixed by the int8 spec: scale 1/256, zero point -128.
 * Parameters from convert/quant_ops.py:logistic_params. Works on any shape
 * (elementwise over `size` elements). */
#ifndef NB_LOGISTIC_H
#define NB_LOGISTIC_H

#include "nb_common.h"

typedef struct {
    int32_t size;               /* number of elements */
    int32_t input_zero_point;
    int32_t input_range_radius; /* CalculateInputRadius(4, input_left_shift, 31) */
    int32_t input_multiplier;   /* round(frexp(input_scale * 2^27).q * 2^31) */
    int32_t input_left_shift;   /* frexp exponent (shift > 0 = left) */
} nb_logistic_params_t;

void nb_logistic(const nb_logistic_params_t *p, const int8_t *input, int8_t *output);

#endif /* NB_LOGISTIC_H */
