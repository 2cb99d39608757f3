/* nb_conv2d.h - int8 CONV_2D (per-channel requantization), bit-exact to TFLM
 * reference_integer_ops::ConvPerChannel. NHWC input/output, OHWI filter. */
#ifndef NB_CONV2D_H
#define NB_CONV2D_H

#include "nb_common.h"

typedef struct {
    nb_dims4_t in;      /* n, h, w, c_in */
    nb_dims4_t filter;  /* c_out, kh, kw, c_in / groups (OHWI) */
    nb_dims4_t out;     /* n, h_out, w_out, c_out */
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_h, pad_w;            /* top / left padding (TFLite ComputePadding) */
    int32_t input_zero_point;        /* tensor zero points (not negated) */
    int32_t output_zero_point;
    const int32_t *out_multiplier;   /* [c_out] from convert/quant.py:conv_multipliers */
    const int32_t *out_shift;        /* [c_out] */
    int32_t act_min, act_max;        /* fused activation clamp (quant.py:activation_range) */
} nb_conv2d_params_t;

/* bias may be NULL (no bias). Grouped convolution if filter.c < in.c. */
void nb_conv2d(const nb_conv2d_params_t *p, const int8_t *input, const int8_t *filter,
               const int32_t *bias, int8_t *output);

#endif /* NB_CONV2D_H */
