/* nb_softmax.h - int8 SOFTMAX over the last dimension, bit-exact to the TFLM
 * reference (reference_ops::Softmax<int8_t, int8_t>, gemmlowp fixed point):
 *
 *   per row: max; diff = x - max; for diff >= diff_min:
 *     e = exp_on_negative_values(MBQMGreaterThanOne(diff, input_multiplier, input_left_shift))
 *     sum += Rescale<12>(e)
 *   recip = GetReciprocal(sum, 12, &bits_over_unit)
 *   out = RoundingDivideByPOT(recip * e, bits_over_unit + 23) - 128  (saturated; -128 below diff_min)
 *
 * The output is fixed by the int8 spec: scale 1/256, zero point -128.
 * (input_multiplier, input_left_shift, diff_min) come from
 * convert/quant_ops.py:softmax_params (PreprocessSoftmaxScaling + CalculateInputRadius).
 * Rows must have depth <= 256 (TFLM's reciprocal shift stays <= 31 only then). */
#ifndef NB_SOFTMAX_H
#define NB_SOFTMAX_H

#include "nb_common.h"

typedef struct {
    int32_t outer_size;       /* number of rows (product of all but the last dim) */
    int32_t depth;            /* last dimension */
    int32_t input_multiplier; /* beta * input_scale * 2^26 as (multiplier, left shift) */
    int32_t input_left_shift; /* >= 0 */
    int32_t diff_min;         /* diffs below this give exactly 0 (-128) */
} nb_softmax_params_t;

void nb_softmax(const nb_softmax_params_t *p, const int8_t *input, int8_t *output);

#endif /* NB_SOFTMAX_H */
