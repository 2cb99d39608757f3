/* nb_avg_pool2d.h - int8 AVERAGE_POOL_2D, bit-exact to TFLM
 * reference_integer_ops::AveragePool (window clipped to the image, rounded
 * division half away from zero; input and output share scale/zero point). */
#ifndef NB_AVG_POOL2D_H
#define NB_AVG_POOL2D_H

#include "nb_common.h"

typedef struct {
    nb_dims4_t in;    /* n, h, w, c */
    nb_dims4_t out;   /* n, h_out, w_out, c */
    int32_t filter_h, filter_w;
    int32_t stride_h, stride_w;
    int32_t pad_h, pad_w;
    int32_t act_min, act_max;
} nb_pool2d_params_t;

typedef nb_pool2d_params_t nb_avg_pool2d_params_t;

/* Returns 0, or -1 if some window holds no input pixel (TFLM fails the op then). */
int nb_avg_pool2d(const nb_avg_pool2d_params_t *p, const int8_t *input, int8_t *output);

#endif /* NB_AVG_POOL2D_H */
