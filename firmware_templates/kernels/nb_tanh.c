/* nb_tanh.c - int8 TANH, see nb_tanh.h. */
#include "nb_tanh.h"

#include "nb_fixedpoint.h"

void nb_tanh(const nb_tanh_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t x = (int32_t)input[i] - p->input_zero_point;
        if (x <= -p->input_range_radius) {
            output[i] = (int8_t)NB_INT8_MIN;
        } else if (x >= p->input_range_radius) {
            output[i] = (int8_t)NB_INT8_MAX;
        } else {
            const int32_t q4 = nb_multiply_by_quantized_multiplier(x, p->input_multiplier,
                                                                   (int)p->input_left_shift);
            const int32_t q0 = nb_fp_tanh_q4(q4);
            output[i] = nb_sat_i8(nb_rounding_divide_by_pot(q0, 31 - 7));
        }
    }
}
