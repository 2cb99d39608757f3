/* nb_conv2d_dsp.c - int8 CONV_2D for Cortex-M4/M7 (DSP extension); defines nb_conv2d (see nb_conv2d.h).
 *
 * im2col of two output positions at a time into nb_kernel_scratch (int16, input offset added, SXTB16
 * order), then nb_dsp_gemm: 2 positions x 2 output channels per inner loop with SMLAD. 1x1 and 1xN kernels
 * with c_in % 4 == 0 widen whole pixel rows with SXTB16/SADD16. Scratch: 4 * ceil2(K) + 4 * floor4(K) bytes, K = kh*kw*c_in
 * (convert.kernel_variants.scratch_bytes); grouped convolutions or a too small scratch use the portable
 * loop nest below. Bit-exact to nb_conv2d.c. */
#include "nb_conv2d.h"
#include "nb_dsp_gemm.h"

static void nb_conv2d_generic(const nb_conv2d_params_t *p, const int8_t *input, const int8_t *filter,
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

/* im2col of output position (b, oy, ox) into col (K int16, SXTB16 order). A kernel row that lies inside the
 * input with dilation_w 1 is one contiguous run of kw*c_in bytes; when that is a multiple of 4 it is widened
 * with SXTB16/SADD16 (its groups of 4 are aligned: every row starts at a multiple of kw*c_in). */
static void nb_conv2d_im2col(const nb_conv2d_params_t *p, const int8_t *input, int32_t b, int32_t oy, int32_t ox,
                             int16_t *col)
{
    const int32_t in_c = p->in.c, k_h = p->filter.h, k_w = p->filter.w;
    const int32_t row_len = k_w * in_c;
    const int32_t K = k_h * row_len, k4 = K & ~3;
    const int32_t offset = -p->input_zero_point;
    const int32_t in_y0 = oy * p->stride_h - p->pad_h, in_x0 = ox * p->stride_w - p->pad_w;
    const int row_fast = (row_len & 3) == 0 && p->dilation_w == 1 && in_x0 >= 0 && in_x0 + k_w <= p->in.w;
    int32_t ky, kx, ic, i, base = 0;
    for (ky = 0; ky < k_h; ++ky, base += row_len) {
        const int32_t in_y = in_y0 + p->dilation_h * ky;
        if (in_y < 0 || in_y >= p->in.h) {
            for (i = 0; i < row_len; ++i) {
                col[nb_dsp_slot(base + i, k4)] = 0;
            }
        } else if (row_fast) {
            nb_dsp_widen_reordered(input + ((b * p->in.h + in_y) * p->in.w + in_x0) * in_c, row_len, offset,
                                   col + base);
        } else {
            for (kx = 0; kx < k_w; ++kx) {
                const int32_t in_x = in_x0 + p->dilation_w * kx;
                const int inside = in_x >= 0 && in_x < p->in.w;
                const int8_t *px = input + ((b * p->in.h + in_y) * p->in.w + in_x) * in_c;
                for (ic = 0; ic < in_c; ++ic) {
                    col[nb_dsp_slot(base + kx * in_c + ic, k4)] = (int16_t)(inside ? (int32_t)px[ic] + offset : 0);
                }
            }
        }
    }
}

void nb_conv2d(const nb_conv2d_params_t *p, const int8_t *input, const int8_t *filter, const int32_t *bias,
               int8_t *output)
{
    const int32_t out_h = p->out.h, out_w = p->out.w, out_c = p->out.c;
    const int32_t K = p->filter.h * p->filter.w * p->filter.c;
    const int32_t col_stride = (K + 1) & ~1;
    const int32_t n_pos = out_h * out_w;
    int16_t *col_a = (int16_t *)(void *)nb_kernel_scratch;
    int16_t *col_b = col_a + col_stride;
    int32_t *col_ab = (int32_t *)(void *)(col_b + col_stride);
    int32_t b, pos;

    if (p->filter.c != p->in.c || (int32_t)sizeof(nb_kernel_scratch) < 4 * col_stride + 4 * (K & ~3)) {
        nb_conv2d_generic(p, input, filter, bias, output);
        return;
    }
    for (b = 0; b < p->out.n; ++b) {
        int8_t *out_b = output + b * n_pos * out_c;
        for (pos = 0; pos + 1 < n_pos; pos += 2) {
            nb_conv2d_im2col(p, input, b, pos / out_w, pos % out_w, col_a);
            nb_conv2d_im2col(p, input, b, (pos + 1) / out_w, (pos + 1) % out_w, col_b);
            nb_dsp_gemm(col_a, col_b, col_ab, K, filter, bias, out_c, p->out_multiplier, p->out_shift, 1,
                        p->output_zero_point, p->act_min, p->act_max, out_b + pos * out_c,
                        out_b + (pos + 1) * out_c);
        }
        if (pos < n_pos) {
            nb_conv2d_im2col(p, input, b, pos / out_w, pos % out_w, col_a);
            nb_dsp_gemm(col_a, NULL, NULL, K, filter, bias, out_c, p->out_multiplier, p->out_shift, 1,
                        p->output_zero_point, p->act_min, p->act_max, out_b + pos * out_c, NULL);
        }
    }
}
