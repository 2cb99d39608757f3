/* nb_depthwise_conv2d_dsp.c - int8 DEPTHWISE_CONV_2D for Cortex-M4/M7 (DSP extension); defines
 * nb_depthwise_conv2d (see nb_depthwise_conv2d.h).
 *
 * Fast path (depth_multiplier 1): four channels per step (the c % 4 tail channels one at a time), one 32-bit input load per tap,
 * SXTB16 into (c0, c2) / (c1, c3), SMLABB / SMLATT against the filter widened once per call to int16 in
 * the same order (nb_kernel_scratch). The input offset is folded into the accumulator start value:
 * acc = bias + (-input_zp) * sum_taps(w) + sum_taps(w * x), with taps outside the input reading a row of
 * input_zp bytes (their x - zp is 0, as the reference skips them). Scratch:
 * kh*kw*floor4(c)*2 (filter) + 4*kh*kw (tap pointers) + c*4 (start values) + c (zero-point row) bytes
 * (convert.kernel_variants.scratch_bytes). Other depth multipliers or a too small scratch use the portable
 * loop. Bit-exact to nb_depthwise_conv2d.c. */
#include "nb_depthwise_conv2d.h"
#include "nb_dsp.h"

static void nb_dw_generic(const nb_depthwise_conv2d_params_t *p, const int8_t *input, const int8_t *filter,
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
                        acc = nb_multiply_by_quantized_multiplier(acc, p->out_multiplier[oc], (int)p->out_shift[oc]);
                        acc += p->output_zero_point;
                        acc = nb_clamp_i32(acc, p->act_min, p->act_max);
                        output[((b * out_h + oy) * out_w + ox) * out_c + oc] = (int8_t)acc;
                    }
                }
            }
        }
    }
}

void nb_depthwise_conv2d(const nb_depthwise_conv2d_params_t *p, const int8_t *input, const int8_t *filter,
                         const int32_t *bias, int8_t *output)
{
    const int32_t C = p->in.c, taps = p->filter.h * p->filter.w;
    const int32_t C4 = C & ~3;
    const int32_t need = taps * C4 * 2 + taps * (int32_t)sizeof(const int8_t *) + C * 4 + C;
    int32_t *wq;     /* [taps][C/4][2] int16 pairs */
    int32_t *start;  /* [C] */
    int8_t *zprow;   /* [C] */
    const int8_t **tap; /* [taps] */
    const int32_t out_zp = p->output_zero_point, act_min = p->act_min, act_max = p->act_max;
    const int32_t *const mult = p->out_multiplier;
    const int32_t *const shift = p->out_shift;
    int32_t t, c, b, oy, ox;

    if (p->depth_multiplier != 1 || (int32_t)sizeof(nb_kernel_scratch) < need) {
        nb_dw_generic(p, input, filter, bias, output);
        return;
    }
    wq = nb_kernel_scratch;
    tap = (const int8_t **)(void *)(wq + taps * C4 / 2); /* 8-byte aligned: C4 % 4 == 0 */
    start = (int32_t *)(void *)(tap + taps);
    zprow = (int8_t *)(void *)(start + C);
    for (c = 0; c < C; ++c) {
        int32_t s = 0;
        for (t = 0; t < taps; ++t) {
            s += filter[t * C + c];
        }
        start[c] = nb_add_wrap(bias ? bias[c] : 0, nb_mul_wrap(-p->input_zero_point, s));
        zprow[c] = (int8_t)p->input_zero_point;
    }
    for (t = 0; t < taps; ++t) {
        const int8_t *f = filter + t * C;
        int32_t *dst = wq + t * (C4 / 2);
        for (c = 0; c < C4; c += 4) {
            const uint32_t v = nb_read_u32(f + c);
            dst[0] = nb_sxtb16(v);
            dst[1] = nb_sxtb16_ror8(v);
            dst += 2;
        }
    }
    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t in_y0 = oy * p->stride_h - p->pad_h;
            for (ox = 0; ox < p->out.w; ++ox) {
                const int32_t in_x0 = ox * p->stride_w - p->pad_w;
                int8_t *out = output + ((b * p->out.h + oy) * p->out.w + ox) * C;
                int32_t ky, kx;
                t = 0;
                for (ky = 0; ky < p->filter.h; ++ky) {
                    const int32_t in_y = in_y0 + p->dilation_h * ky;
                    for (kx = 0; kx < p->filter.w; ++kx, ++t) {
                        const int32_t in_x = in_x0 + p->dilation_w * kx;
                        const int inside = in_y >= 0 && in_y < p->in.h && in_x >= 0 && in_x < p->in.w;
                        tap[t] = inside ? input + ((b * p->in.h + in_y) * p->in.w + in_x) * C : zprow;
                    }
                }
                for (c = 0; c < C4; c += 4) {
                    int32_t a0 = start[c], a1 = start[c + 1], a2 = start[c + 2], a3 = start[c + 3];
                    const int32_t *w = wq + c / 2;
                    for (t = 0; t < taps; ++t) {
                        const uint32_t v = nb_read_u32(tap[t] + c);
                        const int32_t x02 = nb_sxtb16(v), x13 = nb_sxtb16_ror8(v);
                        const int32_t w02 = w[0], w13 = w[1];
                        w += C4 / 2;
                        a0 = nb_smlabb(x02, w02, a0);
                        a2 = nb_smlatt(x02, w02, a2);
                        a1 = nb_smlabb(x13, w13, a1);
                        a3 = nb_smlatt(x13, w13, a3);
                    }
                    out[c] = (int8_t)nb_rq(a0, mult[c + 0], shift[c + 0], out_zp, act_min, act_max);
                    out[c + 1] = (int8_t)nb_rq(a1, mult[c + 1], shift[c + 1], out_zp, act_min, act_max);
                    out[c + 2] = (int8_t)nb_rq(a2, mult[c + 2], shift[c + 2], out_zp, act_min, act_max);
                    out[c + 3] = (int8_t)nb_rq(a3, mult[c + 3], shift[c + 3], out_zp, act_min, act_max);
                }
                for (; c < C; ++c) {
                    int32_t a = start[c];
                    for (t = 0; t < taps; ++t) {
                        a = nb_add_wrap(a, (int32_t)filter[t * C + c] * tap[t][c]);
                    }
                    out[c] = (int8_t)nb_rq(a, mult[c], shift[c], out_zp, act_min, act_max);
                }
            }
        }
    }
}
