/* nb_fully_connected.c - int8 FULLY_CONNECTED, see nb_fully_connected.h. */
#include "nb_fully_connected.h"

void nb_fully_connected(const nb_fully_connected_params_t *p, const int8_t *input, const int8_t *filter,
                        const int32_t *bias, int8_t *output)
{
    const int32_t depth = p->accum_depth;
    const int32_t input_offset = -p->input_zero_point;
    const int32_t filter_offset = -p->filter_zero_point;
    int32_t b, oc, d;

    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_row = input + b * depth;
        for (oc = 0; oc < p->out_depth; ++oc) {
            const int8_t *f_row = filter + oc * depth;
            const int32_t q = p->per_channel ? oc : 0;
            int32_t acc = 0;
            for (d = 0; d < depth; ++d) {
                acc += ((int32_t)f_row[d] + filter_offset) * ((int32_t)in_row[d] + input_offset);
            }
            if (bias != NULL) {
                acc += bias[oc];
            }
            acc = nb_multiply_by_quantized_multiplier(acc, p->out_multiplier[q], (int)p->out_shift[q]);
            acc += p->output_zero_point;
            acc = nb_clamp_i32(acc, p->act_min, p->act_max);
            output[b * p->out_depth + oc] = (int8_t)acc;
        }
    }
}
