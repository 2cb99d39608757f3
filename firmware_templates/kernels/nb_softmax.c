/* nb_softmax.c - int8 SOFTMAX, see nb_softmax.h. */
#include "nb_softmax.h"

#include "nb_fixedpoint.h"

#define NB_SOFTMAX_DIFF_BITS 5  /* kScaledDiffIntegerBits */
#define NB_SOFTMAX_ACCUM_BITS 12 /* kAccumulationIntegerBits */

void nb_softmax(const nb_softmax_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t i, c;
    for (i = 0; i < p->outer_size; ++i) {
        const int8_t *in = input + i * p->depth;
        int8_t *out = output + i * p->depth;
        int32_t max_in_row = NB_INT8_MIN;
        int32_t sum_of_exps = 0;
        int32_t shifted_scale;
        int num_bits_over_unit = 0;

        for (c = 0; c < p->depth; ++c) {
            max_in_row = nb_max_i32(max_in_row, in[c]);
        }
        for (c = 0; c < p->depth; ++c) {
            const int32_t input_diff = (int32_t)in[c] - max_in_row;
            if (input_diff >= p->diff_min) {
                const int32_t rescaled = nb_multiply_by_quantized_multiplier_greater_than_one(
                    input_diff, p->input_multiplier, (int)p->input_left_shift);
                const int32_t e = nb_fp_exp_on_negative_values(rescaled, NB_SOFTMAX_DIFF_BITS);
                sum_of_exps = nb_fp_add(sum_of_exps, nb_fp_sat_rounding_mul_pot(e, -NB_SOFTMAX_ACCUM_BITS));
            }
        }
        shifted_scale = nb_fp_get_reciprocal(sum_of_exps, NB_SOFTMAX_ACCUM_BITS, &num_bits_over_unit);
        for (c = 0; c < p->depth; ++c) {
            const int32_t input_diff = (int32_t)in[c] - max_in_row;
            if (input_diff >= p->diff_min) {
                const int32_t rescaled = nb_multiply_by_quantized_multiplier_greater_than_one(
                    input_diff, p->input_multiplier, (int)p->input_left_shift);
                const int32_t e = nb_fp_exp_on_negative_values(rescaled, NB_SOFTMAX_DIFF_BITS);
                const int32_t unsat = nb_rounding_divide_by_pot(nb_fp_mul(shifted_scale, e),
                                                                num_bits_over_unit + 31 - 8);
                out[c] = nb_sat_i8(unsat + NB_INT8_MIN);
            } else {
                out[c] = (int8_t)NB_INT8_MIN;
            }
        }
    }
}
