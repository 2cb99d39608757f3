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

/* The taps of output position (b, oy, ox) that fall inside the input (depth multiplier 1): tin[k] its input
 * pixel, tw[k] its filter row (both C = in.c channels); returns how many. The direct paths of the DSP / MVE
 * variants (few output positions per call) leave the taps outside out, as the reference skips them. */
static inline int32_t nb_dw_valid_taps(const nb_depthwise_conv2d_params_t *p, const int8_t *input,
                                       const int8_t *filter, int32_t b, int32_t oy, int32_t ox, const int8_t **tin,
                                       const int8_t **tw)
{
    const int32_t C = p->in.c, in_y0 = oy * p->stride_h - p->pad_h, in_x0 = ox * p->stride_w - p->pad_w;
    int32_t ky, kx, n = 0;
    for (ky = 0; ky < p->filter.h; ++ky) {
        const int32_t in_y = in_y0 + p->dilation_h * ky;
        for (kx = 0; kx < p->filter.w; ++kx) {
            const int32_t in_x = in_x0 + p->dilation_w * kx;
            if (in_y >= 0 && in_y < p->in.h && in_x >= 0 && in_x < p->in.w) {
                tin[n] = input + ((b * p->in.h + in_y) * p->in.w + in_x) * C;
                tw[n] = filter + (ky * p->filter.w + kx) * C;
                ++n;
            }
        }
    }
    return n;
}

/* The reference loop nest (TFLM semantics; int32 sums wrap, nb_add_wrap): the body of the portable
 * nb_depthwise_conv2d() and the fallback of the DSP / MVE variants for cases their fast paths do not take. */
static inline void nb_depthwise_conv2d_ref(const nb_depthwise_conv2d_params_t *p, const int8_t *input, const int8_t *filter,
                                const int32_t *bias, int8_t *output)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c;
    const int32_t k_h = p->filter.h, k_w = p->filter.w;
    const int32_t out_h = p->out.h, out_w = p->out.w, out_c = p->out.c;
    const int32_t dm = p->depth_multiplier;
    const int32_t input_offset = -p->input_zero_point;
    int32_t b, oy, ox, ic, m, ky, kx;

    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t in_y0 = oy * p->stride_h - p->pad_h;
            for (ox = 0; ox < out_w; ++ox) {
                const int32_t in_x0 = ox * p->stride_w - p->pad_w;
                for (ic = 0; ic < in_c; ++ic) {
                    for (m = 0; m < dm; ++m) {
                        const int32_t oc = m + ic * dm;
                        int32_t acc = 0;
                        for (ky = 0; ky < k_h; ++ky) {
                            const int32_t in_y = in_y0 + p->dilation_h * ky;
                            if (in_y < 0 || in_y >= in_h) {
                                continue;
                            }
                            for (kx = 0; kx < k_w; ++kx) {
                                const int32_t in_x = in_x0 + p->dilation_w * kx;
                                int32_t in_val, f_val;
                                if (in_x < 0 || in_x >= in_w) {
                                    continue;
                                }
                                in_val = input[((b * in_h + in_y) * in_w + in_x) * in_c + ic];
                                f_val = filter[(ky * k_w + kx) * out_c + oc];
                                acc = nb_add_wrap(acc, f_val * (in_val + input_offset));
                            }
                        }
                        if (bias != NULL) {
                            acc = nb_add_wrap(acc, bias[oc]);
                        }
                        acc = nb_multiply_by_quantized_multiplier(acc, p->out_multiplier[oc],
                                                                  (int)p->out_shift[oc]);
                        acc += p->output_zero_point;
                        acc = nb_clamp_i32(acc, p->act_min, p->act_max);
                        output[((b * out_h + oy) * out_w + ox) * out_c + oc] = (int8_t)acc;
                    }
                }
            }
        }
    }
}

#endif /* NB_DEPTHWISE_CONV2D_H */
