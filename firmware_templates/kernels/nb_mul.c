/* nb_mul.c - int8 MUL, see nb_mul.h. */
#include "nb_mul.h"

static int8_t nb_mul_one(const nb_mul_params_t *p, int32_t x, int32_t y)
{
    const int32_t prod = (p->input1_offset + x) * (p->input2_offset + y);
    const int32_t raw = nb_multiply_by_quantized_multiplier(prod, p->output_multiplier, (int)p->output_shift)
                        + p->output_offset;
    return (int8_t)nb_clamp_i32(raw, p->act_min, p->act_max);
}

void nb_mul(const nb_mul_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    if (!p->broadcast) {
        int32_t i;
        for (i = 0; i < p->size; ++i) {
            output[i] = nb_mul_one(p, input1[i], input2[i]);
        }
    } else {
        int32_t b, y, x, c;
        for (b = 0; b < p->out_shape[0]; ++b) {
            for (y = 0; y < p->out_shape[1]; ++y) {
                for (x = 0; x < p->out_shape[2]; ++x) {
                    const int32_t o1 = b * p->in1_strides[0] + y * p->in1_strides[1] + x * p->in1_strides[2];
                    const int32_t o2 = b * p->in2_strides[0] + y * p->in2_strides[1] + x * p->in2_strides[2];
                    for (c = 0; c < p->out_shape[3]; ++c) {
                        *output++ = nb_mul_one(p, input1[o1 + c * p->in1_strides[3]],
                                               input2[o2 + c * p->in2_strides[3]]);
                    }
                }
            }
        }
    }
}
