/* nb_add.c - int8 ADD, see nb_add.h. */
#include "nb_add.h"

static int8_t nb_add_one(const nb_add_params_t *p, int32_t x, int32_t y)
{
    const int32_t shifted1 = nb_shl_wrap(p->input1_offset + x, (int)p->left_shift);
    const int32_t shifted2 = nb_shl_wrap(p->input2_offset + y, (int)p->left_shift);
    const int32_t scaled1 = nb_multiply_by_quantized_multiplier_smaller_than_one_exp(
        shifted1, p->input1_multiplier, (int)p->input1_shift);
    const int32_t scaled2 = nb_multiply_by_quantized_multiplier_smaller_than_one_exp(
        shifted2, p->input2_multiplier, (int)p->input2_shift);
    const int32_t raw = nb_multiply_by_quantized_multiplier_smaller_than_one_exp(
                            scaled1 + scaled2, p->output_multiplier, (int)p->output_shift)
                        + p->output_offset;
    return (int8_t)nb_clamp_i32(raw, p->act_min, p->act_max);
}

void nb_add(const nb_add_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    if (!p->broadcast) {
        int32_t i;
        for (i = 0; i < p->size; ++i) {
            output[i] = nb_add_one(p, input1[i], input2[i]);
        }
    } else {
        int32_t b, y, x, c;
        for (b = 0; b < p->out_shape[0]; ++b) {
            for (y = 0; y < p->out_shape[1]; ++y) {
                for (x = 0; x < p->out_shape[2]; ++x) {
                    const int32_t o1 = b * p->in1_strides[0] + y * p->in1_strides[1] + x * p->in1_strides[2];
                    const int32_t o2 = b * p->in2_strides[0] + y * p->in2_strides[1] + x * p->in2_strides[2];
                    for (c = 0; c < p->out_shape[3]; ++c) {
                        *output++ = nb_add_one(p, input1[o1 + c * p->in1_strides[3]],
                                               input2[o2 + c * p->in2_strides[3]]);
                    }
                }
            }
        }
    }
}
