/* nb_mean.h - int8 MEAN over any subset of up to 4 dimensions, bit-exact to the
 * three TFLM int8 paths (the path is chosen offline, convert/quant.py:mean_params):
 *
 *  NB_MEAN_HW_KEEPDIMS  older TFLM only (keep_dims, 4-D input, axes {1,2}):
 *                       reference_integer_ops::Mean: acc = sum(x - in_zp);
 *                       acc = MultiplyByQuantizedMultiplier(acc, m, shift);
 *                       rounded division by the count (half away from zero); + out_zp.
 *  NB_MEAN_SAME_QUANT   input and output share scale and zero point:
 *                       reference_ops::Mean: raw sum / count (C division, truncation).
 *  NB_MEAN_REQUANT      otherwise (current TFLM, incl. keep_dims HW means)
 *                       reference_ops::QuantizedMeanOrSum: the multiplier is
 *                       pre-divided by the count offline; out = MBQM(sum - in_zp * count) + out_zp.
 *
 * Output elements are in the row-major order of the non-reduced dimensions
 * (identical for keep_dims true/false). */
#ifndef NB_MEAN_H
#define NB_MEAN_H

#include "nb_common.h"

typedef enum {
    NB_MEAN_HW_KEEPDIMS = 0,
    NB_MEAN_SAME_QUANT = 1,
    NB_MEAN_REQUANT = 2
} nb_mean_method_t;

typedef struct {
    int32_t in_shape[4];      /* leading dims padded with 1 */
    uint8_t reduce[4];        /* 1 = this dimension is reduced */
    int32_t method;           /* nb_mean_method_t */
    int32_t input_zero_point;
    int32_t output_zero_point;
    int32_t multiplier;       /* unused for NB_MEAN_SAME_QUANT */
    int32_t shift;
} nb_mean_params_t;

void nb_mean(const nb_mean_params_t *p, const int8_t *input, int8_t *output);

#endif /* NB_MEAN_H */
