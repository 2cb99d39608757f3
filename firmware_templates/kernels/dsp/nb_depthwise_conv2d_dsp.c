/* nb_depthwise_conv2d_dsp.c - int8 DEPTHWISE_CONV_2D for Cortex-M4/M7 (DSP extension); defines
 * nb_depthwise_conv2d (see nb_depthwise_conv2d.h).
 *
 * Fast path (depth_multiplier 1): four channels per step (the c % 4 tail channels one at a time), one 32-bit
 * input load per tap, SXTB16 into (c0, c2) / (c1, c3), SMLABB / SMLATT against the filter widened once per
 * call to int16 in the same order, laid out [channel group][tap][2 words] so one pointer walks it; for 3x3
 * (9 taps) and 3x1 / 1x3 (3 taps) kernels the taps are unrolled in inline assembly (NB_DW_TAP_ASM: LDRD of
 * the two filter words; GCC's own schedule of the unrolled C loop spills), otherwise a C loop. The input
 * offset is folded into the accumulator start value: acc = bias + (-input_zp) * sum_taps(w) + sum_taps(w * x),
 * with taps outside the input reading a row of input_zp bytes (their x - zp is 0, as the reference skips them).
 * Requantization through the per-call table of nb_rq_prepare (one SMLAL per output) when every channel
 * qualifies, else nb_rq; SSAT when the activation range is the full int8 range. Scratch:
 * kh*kw*floor4(c)*2 (filter) + 16*c (requant table) + 4*c (start values) + 4*kh*kw (tap pointers) + c
 * (zero-point row) bytes (convert.kernel_variants.scratch_bytes). Calls with at most NB_DW_DIRECT_MAX_POS
 * output positions (streaming models) and <= 16 taps take the direct path instead (nb_dw_direct: no
 * preparation, no scratch). Other depth multipliers or a too small scratch use the reference loop
 * (nb_depthwise_conv2d_ref). Bit-exact to nb_depthwise_conv2d.c. */
#include "nb_depthwise_conv2d.h"
#include "nb_dsp.h"

#if defined(__GNUC__)
#define NB_DW_INLINE static inline __attribute__((always_inline))
#else
#define NB_DW_INLINE static inline
#endif

/* requantize one accumulator (mode 2: table + SSAT, 1: table + clamp, 0: nb_rq) */
NB_DW_INLINE int8_t nb_dw_out(int32_t acc, int mode, const nb_rq_ch_t *r, int32_t mult, int32_t shift, int32_t out_zp,
                              int32_t act_min, int32_t act_max)
{
    if (mode == 2) {
        const int64_t cc = (int64_t)(((uint64_t)(uint32_t)r->hi << 32) | r->lo) - ((int64_t)(acc < 0) << 31);
        return (int8_t)nb_ssat8((int32_t)((cc + (int64_t)acc * r->m) >> 32) >> r->es);
    }
    if (mode == 1) {
        return (int8_t)nb_rq_tab(acc, r, act_min, act_max);
    }
    return (int8_t)nb_rq(acc, mult, shift, out_zp, act_min, act_max);
}

#if NB_DSP_NATIVE && defined(__thumb2__)
/* One tap of a 4-channel group in assembly (GCC schedules the unrolled C version with many spills): tap
 * pointer, input word, LDRD of the two widened filter words, SXTB16 x2, SMLABB / SMLATT x2. */
#define NB_DW_TAP_ASM(t)                                                                                      \
    "ldr %[v], [%[tap], #(" #t ")*4]\n\t"                                                                    \
    "ldr %[v], [%[v], %[c]]\n\t"                                                                             \
    "ldrd %[w0], %[w1], [%[w], #(" #t ")*8]\n\t"                                                             \
    "sxtb16 %[x0], %[v]\n\t"                                                                                 \
    "sxtb16 %[x1], %[v], ror #8\n\t"                                                                         \
    "smlabb %[a0], %[x0], %[w0], %[a0]\n\t"                                                                  \
    "smlatt %[a2], %[x0], %[w0], %[a2]\n\t"                                                                  \
    "smlabb %[a1], %[x1], %[w1], %[a1]\n\t"                                                                  \
    "smlatt %[a3], %[x1], %[w1], %[a3]\n\t"
#define NB_DW_ASM_OPERANDS                                                                                    \
    : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [v] "=&r"(v), [x0] "=&r"(x0),           \
      [x1] "=&r"(x1), [w0] "=&r"(w0), [w1] "=&r"(w1)                                                          \
    : [tap] "r"(tap), [c] "r"(c), [w] "r"(w)                                                                  \
    : "memory"
#define NB_DW_ASM 1
#else
#define NB_DW_ASM 0
#endif

/* channels c..c+3 of one output position; w: this group's [tap][2] words */
NB_DW_INLINE void nb_dw_group4(const int8_t *const *tap, int32_t taps, int32_t c, const int32_t *w,
                               const int32_t *start, int mode, const nb_rq_ch_t *rq, const int32_t *mult,
                               const int32_t *shift, int32_t out_zp, int32_t act_min, int32_t act_max, int8_t *out)
{
    int32_t a0 = start[c], a1 = start[c + 1], a2 = start[c + 2], a3 = start[c + 3], t;
#if NB_DW_ASM
    if (taps == 9 || taps == 3) {
        int32_t v, x0, x1, w0, w1;
        if (taps == 9) {
            __asm__ volatile(NB_DW_TAP_ASM(0) NB_DW_TAP_ASM(1) NB_DW_TAP_ASM(2) NB_DW_TAP_ASM(3) NB_DW_TAP_ASM(4)
                                 NB_DW_TAP_ASM(5) NB_DW_TAP_ASM(6) NB_DW_TAP_ASM(7) NB_DW_TAP_ASM(8)
                                     NB_DW_ASM_OPERANDS);
        } else {
            __asm__ volatile(NB_DW_TAP_ASM(0) NB_DW_TAP_ASM(1) NB_DW_TAP_ASM(2) NB_DW_ASM_OPERANDS);
        }
        taps = 0;
    }
#endif
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 9
#endif
    for (t = 0; t < taps; ++t) {
        const uint32_t v = nb_read_u32(tap[t] + c);
        const int32_t x02 = nb_sxtb16(v), x13 = nb_sxtb16_ror8(v);
        const int32_t w02 = w[2 * t], w13 = w[2 * t + 1];
        a0 = nb_smlabb(x02, w02, a0);
        a2 = nb_smlatt(x02, w02, a2);
        a1 = nb_smlabb(x13, w13, a1);
        a3 = nb_smlatt(x13, w13, a3);
    }
    out[c] = nb_dw_out(a0, mode, rq + c, mult[c], shift[c], out_zp, act_min, act_max);
    out[c + 1] = nb_dw_out(a1, mode, rq + c + 1, mult[c + 1], shift[c + 1], out_zp, act_min, act_max);
    out[c + 2] = nb_dw_out(a2, mode, rq + c + 2, mult[c + 2], shift[c + 2], out_zp, act_min, act_max);
    out[c + 3] = nb_dw_out(a3, mode, rq + c + 3, mult[c + 3], shift[c + 3], out_zp, act_min, act_max);
}

/* Few output positions (streaming calls): no per-call preparation (filter widening, start values, tables
 * would cost more than they save). n valid taps of one position: tin[k] its input pixel, tw[k] its filter
 * row; per group of 4 channels and tap one input word and one filter word, SXTB16 both, input offset added
 * with SADD16 (x - zp fits int16), SMLABB / SMLATT; nb_rq. Taps outside the input are left out (the
 * reference skips them). */
#define NB_DW_DIRECT_MAX_POS 3
#define NB_DW_DIRECT_MAX_TAPS 16

NB_DW_INLINE void nb_dw_direct_group4(const int8_t *const *tin, const int8_t *const *tw, int32_t n, int32_t c,
                                      int32_t off2, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                                      int32_t out_zp, int32_t act_min, int32_t act_max, int8_t *out)
{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, k;
    if (bias != NULL) {
        a0 = bias[c];
        a1 = bias[c + 1];
        a2 = bias[c + 2];
        a3 = bias[c + 3];
    }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 9
#endif
    for (k = 0; k < n; ++k) {
        const uint32_t v = nb_read_u32(tin[k] + c), f = nb_read_u32(tw[k] + c);
        const int32_t x02 = nb_sadd16(nb_sxtb16(v), off2), x13 = nb_sadd16(nb_sxtb16_ror8(v), off2);
        const int32_t w02 = nb_sxtb16(f), w13 = nb_sxtb16_ror8(f);
        a0 = nb_smlabb(x02, w02, a0);
        a2 = nb_smlatt(x02, w02, a2);
        a1 = nb_smlabb(x13, w13, a1);
        a3 = nb_smlatt(x13, w13, a3);
    }
    out[c] = (int8_t)nb_rq(a0, mult[c], shift[c], out_zp, act_min, act_max);
    out[c + 1] = (int8_t)nb_rq(a1, mult[c + 1], shift[c + 1], out_zp, act_min, act_max);
    out[c + 2] = (int8_t)nb_rq(a2, mult[c + 2], shift[c + 2], out_zp, act_min, act_max);
    out[c + 3] = (int8_t)nb_rq(a3, mult[c + 3], shift[c + 3], out_zp, act_min, act_max);
}

static void nb_dw_direct(const nb_depthwise_conv2d_params_t *p, const int8_t *input, const int8_t *filter,
                         const int32_t *bias, int8_t *output)
{
    const int32_t C = p->in.c, C4 = C & ~3, offset = -p->input_zero_point;
    const int32_t off2 = (int32_t)(((uint32_t)(uint16_t)offset) | ((uint32_t)(uint16_t)offset << 16));
    const int32_t out_zp = p->output_zero_point, act_min = p->act_min, act_max = p->act_max;
    const int32_t *const mult = p->out_multiplier;
    const int32_t *const shift = p->out_shift;
    const int8_t *tin[NB_DW_DIRECT_MAX_TAPS];
    const int8_t *tw[NB_DW_DIRECT_MAX_TAPS];
    int32_t b, oy, ox, c;

    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t in_y0 = oy * p->stride_h - p->pad_h;
            for (ox = 0; ox < p->out.w; ++ox) {
                const int32_t in_x0 = ox * p->stride_w - p->pad_w;
                int8_t *out = output + ((b * p->out.h + oy) * p->out.w + ox) * C;
                int32_t ky, kx, n = 0, k;
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
                for (c = 0; c < C4; c += 4) {
                    if (n == 3) {
                        nb_dw_direct_group4(tin, tw, 3, c, off2, bias, mult, shift, out_zp, act_min, act_max, out);
                    } else if (n == 9) {
                        nb_dw_direct_group4(tin, tw, 9, c, off2, bias, mult, shift, out_zp, act_min, act_max, out);
                    } else {
                        nb_dw_direct_group4(tin, tw, n, c, off2, bias, mult, shift, out_zp, act_min, act_max, out);
                    }
                }
                for (; c < C; ++c) {
                    int32_t a = bias != NULL ? bias[c] : 0;
                    for (k = 0; k < n; ++k) {
                        a = nb_add_wrap(a, (int32_t)tw[k][c] * ((int32_t)tin[k][c] + offset));
                    }
                    out[c] = (int8_t)nb_rq(a, mult[c], shift[c], out_zp, act_min, act_max);
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
    const int32_t need = taps * C4 * 2 + 16 * C + 4 * C + taps * (int32_t)sizeof(const int8_t *) + C;
    int32_t *wq;        /* [C/4][taps][2] int16 pairs */
    nb_rq_ch_t *rq;     /* [C] */
    int32_t *start;     /* [C] */
    const int8_t **tap; /* [taps] */
    int8_t *zprow;      /* [C] */
    const int32_t out_zp = p->output_zero_point, act_min = p->act_min, act_max = p->act_max;
    const int full = act_min == NB_INT8_MIN && act_max == NB_INT8_MAX;
    const int32_t *const mult = p->out_multiplier;
    const int32_t *const shift = p->out_shift;
    int mode;
    int32_t t, c, b, oy, ox;

    if (p->depth_multiplier == 1 && p->out.n * p->out.h * p->out.w <= NB_DW_DIRECT_MAX_POS &&
        taps <= NB_DW_DIRECT_MAX_TAPS) {
        nb_dw_direct(p, input, filter, bias, output);
        return;
    }
    if (p->depth_multiplier != 1 || (int32_t)sizeof(nb_kernel_scratch) < need) {
        nb_depthwise_conv2d_ref(p, input, filter, bias, output);
        return;
    }
    wq = nb_kernel_scratch;
    tap = (const int8_t **)(void *)(wq + taps * C4 / 2); /* 8-byte aligned: taps * C4 / 2 is even */
    rq = (nb_rq_ch_t *)(void *)(tap + taps);
    start = (int32_t *)(void *)(rq + C);
    zprow = (int8_t *)(void *)(start + C);
    /* the table pays off over several output positions (fewer take nb_dw_direct above) */
    mode = p->out.n * p->out.h * p->out.w >= 4 && nb_rq_prepare(mult, shift, 1, C, out_zp, rq) ? (full ? 2 : 1) : 0;
    for (c = 0; c < C; ++c) {
        int32_t s = 0;
        for (t = 0; t < taps; ++t) {
            s += filter[t * C + c];
        }
        start[c] = nb_add_wrap(bias ? bias[c] : 0, nb_mul_wrap(-p->input_zero_point, s));
        zprow[c] = (int8_t)p->input_zero_point;
    }
    for (c = 0; c < C4; c += 4) {
        int32_t *dst = wq + (c / 4) * taps * 2;
        for (t = 0; t < taps; ++t) {
            const uint32_t v = nb_read_u32(filter + t * C + c);
            dst[2 * t] = nb_sxtb16(v);
            dst[2 * t + 1] = nb_sxtb16_ror8(v);
        }
    }
    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t in_y0 = oy * p->stride_h - p->pad_h;
            for (ox = 0; ox < p->out.w; ++ox) {
                const int32_t in_x0 = ox * p->stride_w - p->pad_w;
                int8_t *out = output + ((b * p->out.h + oy) * p->out.w + ox) * C;
                const int32_t *w = wq;
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
                for (c = 0; c < C4; c += 4, w += 2 * taps) {
                    if (taps == 9 && mode == 2) {
                        nb_dw_group4(tap, 9, c, w, start, 2, rq, mult, shift, out_zp, act_min, act_max, out);
                    } else if (taps == 3 && mode == 2) {
                        nb_dw_group4(tap, 3, c, w, start, 2, rq, mult, shift, out_zp, act_min, act_max, out);
                    } else {
                        nb_dw_group4(tap, taps, c, w, start, mode, rq, mult, shift, out_zp, act_min, act_max, out);
                    }
                }
                for (c = C4; c < C; ++c) {
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
