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

#endif /* NB_FULLY_CONNECTED_H */
