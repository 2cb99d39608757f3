/* nb_fully_connected.h - int8 FULLY_CONNECTED, bit-exact to TFLM
 * reference_integer_ops::FullyConnected (per-tensor) and FullyConnectedPerChannel.
 * input [batches, accum_depth] (any shape flattened), filter [out_depth, accum_depth]. */
#ifndef NB_FULLY_CONNECTED_H
#define NB_FULLY_CONNECTED_H

#include "nb_common.h"

typedef struct {
    int32_t batches;
    int32_t accum_depth;
    int32_t out_depth;
    int32_t input_zero_point;
    int32_t filter_zero_point;       /* 0 for int8 symmetric weights */
    int32_t output_zero_point;
    int32_t per_channel;             /* 0: use out_multiplier[0]/out_shift[0] for every output */
    const int32_t *out_multiplier;   /* [1] or [out_depth] */
    const int32_t *out_shift;        /* [1] or [out_depth] */
    int32_t act_min, act_max;
} nb_fully_connected_params_t;

/* bias may be NULL. */
void nb_fully_connected(const nb_fully_connected_params_t *p, const int8_t *input, const int8_t *filter,
                        const int32_t *bias, int8_t *output);

/* The reference loop nest (TFLM semantics; int32 sums wrap, nb_add_wrap): the body of the portable
 * nb_fully_connected() and the fallback of the DSP / MVE variants for cases their fast paths do not take. */
static inline void nb_fully_connected_ref(const nb_fully_connected_params_t *p, const int8_t *input, const int8_t *filter,
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
                acc = nb_add_wrap(acc, ((int32_t)f_row[d] + filter_offset) * ((int32_t)in_row[d] + input_offset));
            }
            if (bias != NULL) {
                acc = nb_add_wrap(acc, bias[oc]);
            }
            acc = nb_multiply_by_quantized_multiplier(acc, p->out_multiplier[q], (int)p->out_shift[q]);
            acc += p->output_zero_point;
            acc = nb_clamp_i32(acc, p->act_min, p->act_max);
            output[b * p->out_depth + oc] = (int8_t)acc;
        }
    }
}

#endif /* NB_FULLY_CONNECTED_H */
