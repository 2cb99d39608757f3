/* nb_mul.h - int8 MUL with fused activation and 4-D broadcasting, bit-exact to
 * TFLM reference_integer_ops::Mul / BroadcastMul4DSlow:
 *
 *   out = clamp(MultiplyByQuantizedMultiplier((in1 + input1_offset) * (in2 + input2_offset),
 *                                             output_multiplier, output_shift) + output_offset,
 *               act_min, act_max)
 *
 * offsets are the negated input zero points; (output_multiplier, output_shift) =
 * QuantizeMultiplier(s1 * s2 / s_out). Broadcasting as in nb_add.h. All values
 * from convert/quant_ops.py:mul_params. */
#ifndef NB_MUL_H
#define NB_MUL_H

#include "nb_common.h"

typedef struct {
    int32_t size;              /* number of output elements */
    int32_t broadcast;         /* 0: both inputs have the output's shape (flat loop) */
    int32_t out_shape[4];
    int32_t in1_strides[4];    /* element strides of input 1 in the output index space */
    int32_t in2_strides[4];
    int32_t input1_offset;
    int32_t input2_offset;
    int32_t output_offset;
    int32_t output_multiplier;
    int32_t output_shift;      /* > 0 left, <= 0 right */
    int32_t act_min;
    int32_t act_max;
} nb_mul_params_t;

void nb_mul(const nb_mul_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output);

#endif /* NB_MUL_H */
