/* nb_depthwise_conv2d_mve.c - int8 DEPTHWISE_CONV_2D for Cortex-M55 (MVE / Helium); defines
 * nb_depthwise_conv2d (see nb_depthwise_conv2d.h).
 *
 * Depth multiplier 1, several output positions: eight channels per step (VLDRB.S16 widening loads of input
 * and of the filter, reordered once per call to [channel group][tap][8] so one pointer walks it, VMULLB /
 * VMULLT into even / odd channel int32 accumulators, VADD), the rest four per vector (VLDRB.S32, VMUL + VADD;
 * MVE has no vector-by-vector VMLA), tail channels predicated. The input offset is folded into per-call start
 * values start[c] = bias[c] + (-input_zp) * sum_taps w[c], taps outside the input read a row of input_zp
 * bytes. Even / odd start values and requantization parameters are deinterleaved once per call; the
 * accumulators of one position go to a row buffer and are requantized in a separate loop (fewer live vector
 * registers in the MAC loop; nb_mve_requant_rs when every shift is <= 0), re-interleaved with VMOVNB / VMOVNT
 * and stored with VSTRB.16. Scratch: 4 * ceil4(c) + 16 * floor8(c) + 4 * kh*kw + ceil16(c) +
 * ceil16(kh*kw*floor8(c)) bytes (convert.kernel_variants.scratch_bytes).
 * At most NB_DWM_DIRECT_MAX_POS output positions (streaming models) and <= 16 taps: nb_dwm_direct, no
 * preparation and no scratch. Other depth multipliers or a too small scratch use the reference loop.
 * Bit-exact to nb_depthwise_conv2d.c. */
#include <string.h>
#include "nb_depthwise_conv2d.h"
#include "nb_mve.h"

/* Requantize the even / odd accumulators of channels [0, c8) (acc: per 8 channels 4 even then 4 odd) and
 * store them re-interleaved (VMOVNB / VMOVNT, VSTRB.16). rs: every shift <= 0 (nb_mve_requant_rs). */
static void nb_dwm_requant8(const int32_t *acc, int32_t c8, const int32_t *mult_d, const int32_t *shift_d, int rs,
                            int32_t out_zp, int32_t act_min, int32_t act_max, int8_t *out)
{
    const int32x4_t lo = vdupq_n_s32(act_min), hi = vdupq_n_s32(act_max);
    int32_t c;
    for (c = 0; c < c8; c += 8) {
        int32x4_t e = vldrwq_s32(acc + c), o = vldrwq_s32(acc + c + 4);
        int16x8_t v;
        if (rs) {
            e = nb_mve_requant_rs(e, vldrwq_s32(mult_d + c), vldrwq_s32(shift_d + c), out_zp, lo, hi);
            o = nb_mve_requant_rs(o, vldrwq_s32(mult_d + c + 4), vldrwq_s32(shift_d + c + 4), out_zp, lo, hi);
        } else {
            e = nb_mve_requant(e, vldrwq_s32(mult_d + c), vldrwq_s32(shift_d + c), out_zp, act_min, act_max);
            o = nb_mve_requant(o, vldrwq_s32(mult_d + c + 4), vldrwq_s32(shift_d + c + 4), out_zp, act_min,
                               act_max);
        }
        v = vmovnbq_s32(vdupq_n_s16(0), e);
        v = vmovntq_s32(v, o);
        vstrbq_s16(out + c, v);
    }
}

/* Few output positions (streaming calls): no per-call preparation. Valid taps only (tin: input pixel, tw:
 * filter row); eight channels per step: VLDRB.S16 of input (+ input offset, x - zp fits int16) and filter,
 * VMULLB / VMULLT into even / odd int32 accumulators started from the bias, requantization parameters of the
 * even / odd channels by gather loads (VLDRW offsets 0, 2, 4, 6 words); the rest four channels per vector,
 * the tail predicated. */
#define NB_DWM_DIRECT_MAX_POS 3
#define NB_DWM_DIRECT_MAX_TAPS 16

static void nb_dwm_direct(const nb_depthwise_conv2d_params_t *p, const int8_t *input, const int8_t *filter,
                          const int32_t *bias, int8_t *output)
{
    const int32_t C = p->in.c, c8 = C & ~7, offset = -p->input_zero_point;
    const int32_t out_zp = p->output_zero_point, act_min = p->act_min, act_max = p->act_max;
    const int32_t *const mult = p->out_multiplier;
    const int32_t *const shift = p->out_shift;
    const uint32x4_t even = vidupq_n_u32(0, 2); /* word offsets 0, 2, 4, 6 */
    const int8_t *tin[NB_DWM_DIRECT_MAX_TAPS];
    const int8_t *tw[NB_DWM_DIRECT_MAX_TAPS];
    int32_t b, oy, ox, c, k;

    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t in_y0 = oy * p->stride_h - p->pad_h;
            for (ox = 0; ox < p->out.w; ++ox) {
                const int32_t in_x0 = ox * p->stride_w - p->pad_w;
                int8_t *out = output + ((b * p->out.h + oy) * p->out.w + ox) * C;
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
                for (c = 0; c < c8; c += 8) {
                    int32x4_t acc_e = vdupq_n_s32(0), acc_o = vdupq_n_s32(0);
                    int16x8_t v;
                    if (bias != NULL) {
                        acc_e = vldrwq_gather_shifted_offset_s32(bias + c, even);
                        acc_o = vldrwq_gather_shifted_offset_s32(bias + c + 1, even);
                    }
                    for (k = 0; k < n; ++k) {
                        const int16x8_t x = vaddq_n_s16(vldrbq_s16(tin[k] + c), (int16_t)offset);
                        const int16x8_t f = vldrbq_s16(tw[k] + c);
                        acc_e = vaddq_s32(acc_e, vmullbq_int_s16(x, f));
                        acc_o = vaddq_s32(acc_o, vmulltq_int_s16(x, f));
                    }
                    acc_e = nb_mve_requant(acc_e, vldrwq_gather_shifted_offset_s32(mult + c, even),
                                           vldrwq_gather_shifted_offset_s32(shift + c, even), out_zp, act_min,
                                           act_max);
                    acc_o = nb_mve_requant(acc_o, vldrwq_gather_shifted_offset_s32(mult + c + 1, even),
                                           vldrwq_gather_shifted_offset_s32(shift + c + 1, even), out_zp, act_min,
                                           act_max);
                    v = vmovnbq_s32(vdupq_n_s16(0), acc_e);
                    v = vmovntq_s32(v, acc_o);
                    vstrbq_s16(out + c, v);
                }
                for (; c < C; c += 4) {
                    const mve_pred16_t pr = vctp32q((uint32_t)(C - c));
                    int32x4_t acc = bias != NULL ? vldrwq_z_s32(bias + c, pr) : vdupq_n_s32(0);
                    for (k = 0; k < n; ++k) {
                        const int32x4_t x = vaddq_n_s32(vldrbq_z_s32(tin[k] + c, pr), offset);
                        acc = vaddq_s32(acc, vmulq_s32(x, vldrbq_z_s32(tw[k] + c, pr)));
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
    int8_t *wr = zprow + c16;                       /* [C/8][taps][8] */
    int32_t *accr = (int32_t *)(void *)(wr + ((taps * c8 + 15) & ~15)); /* [c8] even / odd accumulators */
    int rs;
    int32_t t, c, b, oy, ox;

    if (p->depth_multiplier == 1 && p->out.n * p->out.h * p->out.w <= NB_DWM_DIRECT_MAX_POS &&
        taps <= NB_DWM_DIRECT_MAX_TAPS) {
        nb_dwm_direct(p, input, filter, bias, output);
        return;
    }
    if (p->depth_multiplier != 1 ||
        (int32_t)sizeof(nb_kernel_scratch) < 4 * c4 + 16 * c8 + 4 * taps + c16 + ((taps * c8 + 15) & ~15)) {
        nb_depthwise_conv2d_ref(p, input, filter, bias, output);
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
    for (c = 0; c < c8; c += 8) {
        for (t = 0; t < taps; ++t) {
            vstrbq_s16(wr + (c / 8) * taps * 8 + 8 * t, vldrbq_s16(filter + t * C + c));
        }
    }
    rs = nb_mve_shifts_nonpos(shift, C);
    memset(zprow, p->input_zero_point, (size_t)c16);
    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t in_y0 = oy * p->stride_h - p->pad_h;
            for (ox = 0; ox < p->out.w; ++ox) {
                const int32_t in_x0 = ox * p->stride_w - p->pad_w;
                int8_t *out = output + ((b * p->out.h + oy) * p->out.w + ox) * C;
                const int8_t *w = wr;
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
                    int32x4_t acc_e = vldrwq_s32(start_d + c), acc_o = vldrwq_s32(start_d + c + 4);
                    for (t = 0; t < taps; ++t) {
                        const int16x8_t x = vldrbq_s16(tap[t] + c);
                        const int16x8_t f = vldrbq_s16(w);
                        w += 8;
                        acc_e = vaddq_s32(acc_e, vmullbq_int_s16(x, f));
                        acc_o = vaddq_s32(acc_o, vmulltq_int_s16(x, f));
                    }
                    vstrwq_s32(accr + c, acc_e);
                    vstrwq_s32(accr + c + 4, acc_o);
                }
                nb_dwm_requant8(accr, c8, mult_d, shift_d, rs, out_zp, act_min, act_max, out);
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
