/* nb_depthwise_conv2d.h - int8 DEPTHWISE_CONV_2D (per-channel requantization),
 * bit-exact to TFLM reference_integer_ops::DepthwiseConvPerChannel.
 * NHWC input/output, filter [1, kh, kw, c_in * depth_multiplier]. */
#ifndef NB_DEPTHWISE_CONV2D_H
#define NB_DEPTHWISE_CONV2D_H

#include "nb_common.h"

typedef struct {
    nb_dims4_t in;      /* n, h, w, c_in */
    nb_dims4_t filter;  /* 1, kh, kw, c_out (= c_in * depth_multiplier) */
    nb_dims4_t out;     /* n, h_out, w_out, c_out */
    int32_t depth_multiplier;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_h, pad_w;            /* top / left padding */
    int32_t input_zero_point;
    int32_t output_zero_point;
    const int32_t *out_multiplier;   /* [c_out] */
    const int32_t *out_shift;        /* [c_out] */
    int32_t act_min, act_max;
} nb_depthwise_conv2d_params_t;

/* bias may be NULL. */
void nb_depthwise_conv2d(const nb_depthwise_conv2d_params_t *p, const int8_t *input, const int8_t *filter,
                         const int32_t *bias, int8_t *output);

#endif /* NB_DEPTHWISE_CONV2D_H */
