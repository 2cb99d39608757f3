/* nb_depthwise_conv2d_mve.c - int8 DEPTHWISE_CONV_2D for Cortex-M55 (MVE / Helium); defines
 * nb_depthwise_conv2d (see nb_depthwise_conv2d.h).
 *
 * Depth multiplier 1: eight channels per step (VLDRB.S16 widening loads of input and filter, VMULLB / VMULLT
 * into even / odd channel int32 accumulators, VADD), the rest four per vector (VLDRB.S32, VMUL + VADD; MVE has
 * no vector-by-vector VMLA), tail channels predicated. Even / odd start values and requantization parameters
 * are deinterleaved once per call; results are re-interleaved with VMOVNB / VMOVNT and stored with VSTRB.16. The input offset is folded into per-call
 * start values start[c] = bias[c] + (-input_zp) * sum_taps w[c], taps outside the input read a row of
 * input_zp bytes. Vectorized requantization (nb_mve_requant). Scratch: 4 * ceil4(c) + 12 * floor8(c) +
 * 4 * kh*kw + ceil16(c) bytes. Other depth multipliers or a too small scratch use the portable loop. Bit-exact to
 * nb_depthwise_conv2d.c. */
#include <string.h>
#include "nb_depthwise_conv2d.h"
#include "nb_mve.h"

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
    const int32_t c4 = (C + 3) & ~3, c16 = (C + 15) & ~15, c8 = C & ~7;
    const int32_t out_zp = p->output_zero_point, act_min = p->act_min, act_max = p->act_max;
    const int32_t *const mult = p->out_multiplier;
    const int32_t *const shift = p->out_shift;
    int32_t *start = nb_kernel_scratch;
    int32_t *start_d = start + c4; /* per 8 channels: even channels, then odd channels */
    int32_t *mult_d = start_d + c8;
    int32_t *shift_d = mult_d + c8;
    const int8_t **tap = (const int8_t **)(void *)(shift_d + c8);
    int8_t *zprow = (int8_t *)(void *)(tap + taps);
    int32_t t, c, b, oy, ox;

    if (p->depth_multiplier != 1 || (int32_t)sizeof(nb_kernel_scratch) < 4 * c4 + 12 * c8 + 4 * taps + c16) {
        nb_dw_generic(p, input, filter, bias, output);
        return;
    }
    for (c = 0; c < C; ++c) {
        int32_t s = 0;
        for (t = 0; t < taps; ++t) {
            s += filter[t * C + c];
        }
        start[c] = nb_add_wrap(bias ? bias[c] : 0, nb_mul_wrap(-p->input_zero_point, s));
    }
    for (c = 0; c < c8; ++c) {
        const int32_t src = (c & ~7) + ((c & 4) ? 2 * (c & 3) + 1 : 2 * (c & 3));
        start_d[c] = start[src];
        mult_d[c] = mult[src];
        shift_d[c] = shift[src];
    }
    memset(zprow, p->input_zero_point, (size_t)c16);
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
                for (c = 0; c < c8; c += 8) {
                    int32x4_t acc_e = vldrwq_s32(start_d + c);
                    int32x4_t acc_o = vldrwq_s32(start_d + c + 4);
                    const int8_t *w = filter + c;
                    int16x8_t v;
                    for (t = 0; t < taps; ++t) {
                        const int16x8_t x = vldrbq_s16(tap[t] + c);
                        const int16x8_t f = vldrbq_s16(w);
                        acc_e = vaddq_s32(acc_e, vmullbq_int_s16(x, f));
                        acc_o = vaddq_s32(acc_o, vmulltq_int_s16(x, f));
                        w += C;
                    }
                    acc_e = nb_mve_requant(acc_e, vldrwq_s32(mult_d + c), vldrwq_s32(shift_d + c), out_zp, act_min,
                                           act_max);
                    acc_o = nb_mve_requant(acc_o, vldrwq_s32(mult_d + c + 4), vldrwq_s32(shift_d + c + 4), out_zp,
                                           act_min, act_max);
                    v = vmovnbq_s32(vdupq_n_s16(0), acc_e);
                    v = vmovntq_s32(v, acc_o);
                    vstrbq_s16(out + c, v);
                }
                for (; c + 4 <= C; c += 4) {
                    int32x4_t acc = vldrwq_s32(start + c);
                    const int8_t *w = filter + c;
                    for (t = 0; t < taps; ++t) {
                        acc = vaddq_s32(acc, vmulq_s32(vldrbq_s32(tap[t] + c), vldrbq_s32(w)));
                        w += C;
                    }
                    vstrbq_s32(out + c, nb_mve_requant(acc, vldrwq_s32(mult + c), vldrwq_s32(shift + c), out_zp,
                                                       act_min, act_max));
                }
                if (c < C) {
                    const mve_pred16_t pr = vctp32q((uint32_t)(C - c));
                    int32x4_t acc = vldrwq_z_s32(start + c, pr);
                    const int8_t *w = filter + c;
                    for (t = 0; t < taps; ++t) {
                        acc = vaddq_s32(acc, vmulq_s32(vldrbq_z_s32(tap[t] + c, pr), vldrbq_z_s32(w, pr)));
                        w += C;
                    }
                    vstrbq_p_s32(out + c,
                                 nb_mve_requant(acc, vldrwq_z_s32(mult + c, pr), vldrwq_z_s32(shift + c, pr), out_zp,
                                                act_min, act_max),
                                 pr);
                }
            }
        }
    }
}
