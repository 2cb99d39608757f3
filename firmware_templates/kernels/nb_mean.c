/* nb_mean.c - int8 MEAN, see nb_mean.h. */
#include "nb_mean.h"

void nb_mean(const nb_mean_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t outer[4]; /* iteration extents over output positions */
    int32_t inner[4]; /* iteration extents over reduced positions */
    int32_t stride[4];
    int32_t count = 1;
    int32_t k, o0, o1, o2, o3, r0, r1, r2, r3;

    stride[3] = 1;
    for (k = 2; k >= 0; --k) {
        stride[k] = stride[k + 1] * p->in_shape[k + 1];
    }
    for (k = 0; k < 4; ++k) {
        outer[k] = p->reduce[k] ? 1 : p->in_shape[k];
        inner[k] = p->reduce[k] ? p->in_shape[k] : 1;
        count *= inner[k];
    }

    for (o0 = 0; o0 < outer[0]; ++o0) {
        for (o1 = 0; o1 < outer[1]; ++o1) {
            for (o2 = 0; o2 < outer[2]; ++o2) {
                for (o3 = 0; o3 < outer[3]; ++o3) {
                    int32_t sum = 0;
                    int32_t acc;
                    for (r0 = 0; r0 < inner[0]; ++r0) {
                        for (r1 = 0; r1 < inner[1]; ++r1) {
                            for (r2 = 0; r2 < inner[2]; ++r2) {
                                for (r3 = 0; r3 < inner[3]; ++r3) {
                                    sum += input[(o0 + r0) * stride[0] + (o1 + r1) * stride[1]
                                                 + (o2 + r2) * stride[2] + (o3 + r3) * stride[3]];
                                }
                            }
                        }
                    }
                    if (p->method == NB_MEAN_SAME_QUANT) {
                        acc = sum / count;
                    } else if (p->method == NB_MEAN_HW_KEEPDIMS) {
                        acc = sum - p->input_zero_point * count;
                        acc = nb_multiply_by_quantized_multiplier(acc, p->multiplier, (int)p->shift);
                        acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                        acc += p->output_zero_point;
                    } else {
                        acc = sum - p->input_zero_point * count;
                        acc = nb_multiply_by_quantized_multiplier(acc, p->multiplier, (int)p->shift);
                        acc += p->output_zero_point;
                    }
                    *output++ = nb_sat_i8(acc);
                }
            }
        }
    }
}
