/* nb_quantize.h - QUANTIZE, bit-exact to TFLM:
 *
 *  nb_quantize_f32    float -> int8, reference_ops::AffineQuantize:
 *                     out = clamp(round_half_away(x / scale) + zero_point)  (float32 division)
 *  nb_requantize_i8   int8 -> int8, reference_ops::Requantize:
 *                     out = clamp(MultiplyByQuantizedMultiplier(x - in_zp, m, shift) + out_zp)
 *                     with (m, shift) = QuantizeMultiplier(in_scale / out_scale).
 *
 * Parameters from convert/quant_ops.py:quantize_params / requantize_params.
 * Non-finite or huge floats (|x / scale| >= 2^31, where TFLM's int cast is
 * undefined) saturate: +inf/huge -> 127, -inf/huge -> -128, NaN -> -128. */
#ifndef NB_QUANTIZE_H
#define NB_QUANTIZE_H

#include "nb_common.h"

typedef struct {
    int32_t size;       /* number of elements */
    float scale;        /* output scale (float32, as stored in the model) */
    int32_t zero_point; /* output zero point */
} nb_quantize_params_t;

typedef struct {
    int32_t size;
    int32_t input_zero_point;
    int32_t output_zero_point;
    int32_t multiplier;
    int32_t shift;      /* > 0 left, <= 0 right */
} nb_requantize_params_t;

void nb_quantize_f32(const nb_quantize_params_t *p, const float *input, int8_t *output);
void nb_requantize_i8(const nb_requantize_params_t *p, const int8_t *input, int8_t *output);

#endif /* NB_QUANTIZE_H */
