/* nb_add.h - int8 ADD with fused activation and 4-D broadcasting, bit-exact to
 * TFLM reference_integer_ops::Add / BroadcastAdd4DSlow:
 *
 *   a = (in1 + input1_offset) << left_shift;  b = (in2 + input2_offset) << left_shift
 *   a = MBQMSmallerThanOneExp(a, input1_multiplier, input1_shift)   (same for b)
 *   out = clamp(MBQMSmallerThanOneExp(a + b, output_multiplier, output_shift) + output_offset,
 *               act_min, act_max)
 *
 * offsets are the negated input zero points, left_shift is 20 for int8.
 * Broadcasting: the output is iterated over out_shape (row-major, leading dims
 * padded with 1) and each input element is read at sum(index[k] * in_strides[k]);
 * a stride is 0 where that input has extent 1. All values from
 * convert/quant_ops.py:add_params. */
#ifndef NB_ADD_H
#define NB_ADD_H

#include "nb_common.h"

typedef struct {
    int32_t size;              /* number of output elements */
    int32_t broadcast;         /* 0: both inputs have the output's shape (flat loop) */
    int32_t out_shape[4];
    int32_t in1_strides[4];    /* element strides of input 1 in the output index space */
    int32_t in2_strides[4];
    int32_t left_shift;
    int32_t input1_offset;
    int32_t input1_multiplier;
    int32_t input1_shift;      /* <= 0 */
    int32_t input2_offset;
    int32_t input2_multiplier;
    int32_t input2_shift;      /* <= 0 */
    int32_t output_offset;
    int32_t output_multiplier;
    int32_t output_shift;      /* <= 0 */
    int32_t act_min;
    int32_t act_max;
} nb_add_params_t;

void nb_add(const nb_add_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output);

#endif /* NB_ADD_H */
