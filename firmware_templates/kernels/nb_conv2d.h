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
    const void *prepared;            /* NULL, or data prepared at generation time for the CPU's kernel
                                      * variant (convert.kernel_variants.prepare_weights; the DSP CONV_2D
                                      * g42 stream); portable kernels ignore it */
} nb_conv2d_params_t;

/* bias may be NULL (no bias). Grouped convolution if filter.c < in.c. */
void nb_conv2d(const nb_conv2d_params_t *p, const int8_t *input, const int8_t *filter,
               const int32_t *bias, int8_t *output);

/* The reference loop nest (TFLM semantics; int32 sums wrap, nb_add_wrap): the body of the portable
 * nb_conv2d() and the fallback of the DSP / MVE variants for cases their fast paths do not take. */
static inline void nb_conv2d_ref(const nb_conv2d_params_t *p, const int8_t *input, const int8_t *filter,
                                const int32_t *bias, int8_t *output)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c;
    const int32_t k_h = p->filter.h, k_w = p->filter.w, k_c = p->filter.c;
    const int32_t out_h = p->out.h, out_w = p->out.w, out_c = p->out.c;
    const int32_t groups = in_c / k_c;
    const int32_t filters_per_group = out_c / groups;
    const int32_t input_offset = -p->input_zero_point;
    int32_t b, oy, ox, oc, ky, kx, ic;

    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t in_y0 = oy * p->stride_h - p->pad_h;
            for (ox = 0; ox < out_w; ++ox) {
                const int32_t in_x0 = ox * p->stride_w - p->pad_w;
                for (oc = 0; oc < out_c; ++oc) {
                    const int32_t group = oc / filters_per_group;
                    int32_t acc = 0;
                    for (ky = 0; ky < k_h; ++ky) {
                        const int32_t in_y = in_y0 + p->dilation_h * ky;
                        if (in_y < 0 || in_y >= in_h) {
                            continue;
                        }
                        for (kx = 0; kx < k_w; ++kx) {
                            const int32_t in_x = in_x0 + p->dilation_w * kx;
                            const int8_t *in_px;
                            const int8_t *f_px;
                            if (in_x < 0 || in_x >= in_w) {
                                continue;
                            }
                            in_px = input + ((b * in_h + in_y) * in_w + in_x) * in_c + group * k_c;
                            f_px = filter + ((oc * k_h + ky) * k_w + kx) * k_c;
                            for (ic = 0; ic < k_c; ++ic) {
                                acc = nb_add_wrap(acc, (int32_t)f_px[ic] * ((int32_t)in_px[ic] + input_offset));
                            }
                        }
                    }
                    if (bias != NULL) {
                        acc = nb_add_wrap(acc, bias[oc]);
                    }
                    acc = nb_multiply_by_quantized_multiplier(acc, p->out_multiplier[oc], (int)p->out_shift[oc]);
                    acc += p->output_zero_point;
                    acc = nb_clamp_i32(acc, p->act_min, p->act_max);
                    output[((b * out_h + oy) * out_w + ox) * out_c + oc] = (int8_t)acc;
                }
            }
        }
    }
}

#endif /* NB_CONV2D_H */
