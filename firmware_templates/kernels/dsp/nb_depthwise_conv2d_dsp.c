/* nb_depthwise_conv2d_dsp.c - int8 DEPTHWISE_CONV_2D for Cortex-M4/M7 (DSP extension); defines
 * nb_depthwise_conv2d (see nb_depthwise_conv2d.h).
 *
 * Tabled path (nb_dw_tabled; depth_multiplier 1): four channels per step (the c % 4 tail channels one at a time), one 32-bit
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
 * preparation, no scratch; nb_dw_direct, nb_dw_planar and nb_dw_tabled are not inlined, so each keeps its own
 * small frame). Other depth multipliers or a too small scratch use the reference loop
 * (nb_depthwise_conv2d_ref). Bit-exact to nb_depthwise_conv2d.c.
 *
 * Planar path (nb_dw_planar; taken first for depth_multiplier 1, 3x3, stride 1, dilation 1, >= 4 output positions,
 * every channel's shift in -23..-1 and |bias| <= 2^28): one channel at a time in an int16 plane. Plane rows run along
 * the longer output axis (the input is read transposed when out.h > out.w); a plane holds the padded input of one
 * channel, x as is and the input zero point in the padding cells, with row pitch wp = of + 2 rounded up to even (of + 1
 * for odd of with one padding column on each side: the next row's left padding cell doubles as the right one), and is
 * treated as one flat signal: acc[i] = start + sum_{r,k} w(r,k) pl[i + r wp + k] for every flat i (the wp - of columns
 * past each row's end are computed and dropped). The filter is doubled and packed per row as W01 = [w0, w1], W12 = [w1,
 * w2]; for 4 outputs and a row the words A = [p0, p1], B = [p2, p3], C = [p4, p5] give acc0 += A.W01 + B.lo w2, acc1 +=
 * A.hi w0 + B.W12, acc2 += B.W01 + C.lo w2, acc3 += B.hi w0 + C.W12 (SMLAD / SMLABT / SMLATB: 24 multiplies per 36
 * MACs; nb_dwp_mac3_s). start = 2 (bias - input_zp sum(w)) (the zero-point padding cells cancel, as the reference skips
 * them). Requantization of the doubled accumulator a2 (nb_dwp_rq_s): y = (SMMLAR(a2, m, K) - [a2 < 0]) >> e, K =
 * 2^(e-1) + output_zp 2^e, then SSAT #8 (full range) or the activation clamp; equal to TFLM's double rounding under the
 * conditions above (see nb_dwp_channel_ok). Full range and a group of four channels: the requantization is fused into
 * the multiply loop (nb_dwp_mac3q_s) and its bytes go to the accumulator area interleaved four channels per position,
 * copied to the output one word per position (nb_dwp_scatter4_s); otherwise int32 accumulators, then nb_dwp_rq_s or the
 * clamping C loop. Gather: four channels at once (nb_dwp_g4_s: two input words, SXTB16, PKHBT / PKHTB into four
 * planes), the channel tail one at a time.
 * Scratch: g planes of len int16 (g = 4, or 1 when only one fits) then n4 int32 accumulators, where
 * len = ceil4(max((rows + 2) wp, n4 + 2 wp + 2)), n4 = ceil4((rows - 1) wp + of), rows = the output rows per
 * band (all of them when the scratch allows, else the largest band that fits: the padding is then rewritten
 * per band); when even one 1-plane row does not fit, the tabled path below runs. */
#include "nb_depthwise_conv2d.h"
#include "nb_dsp.h"
#include "nb_kernel_paths.h"

/* Path switches (nb_kernel_paths.h, written per model by the code generator from
 * convert.kernel_variants.path_switches; default 1: every path): NB_DSP_DW_PLANAR 0 compiles the planar path
 * out (no op of the model is a 3x3 stride-1 depthwise with more than NB_DW_DIRECT_MAX_POS positions),
 * NB_DSP_DW_TABLED 0 the tabled path (every op takes the direct path; a call that does not then runs the
 * reference loop). */
#ifndef NB_DSP_DW_PLANAR
#define NB_DSP_DW_PLANAR 1
#endif
#ifndef NB_DSP_DW_TABLED
#define NB_DSP_DW_TABLED 1
#endif

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

#if defined(__GNUC__)
__attribute__((noinline))
#endif
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
            for (ox = 0; ox < p->out.w; ++ox) {
                int8_t *out = output + ((b * p->out.h + oy) * p->out.w + ox) * C;
                const int32_t n = nb_dw_valid_taps(p, input, filter, b, oy, ox, tin, tw);
                int32_t k;
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

#if NB_DSP_DW_PLANAR
/* ---- planar path (depth_multiplier 1, 3x3, stride 1, dilation 1, >= 4 output positions) ---------------- */

#if NB_DSP_NATIVE
static inline int32_t nb_dwp_smlabt(int32_t a, int32_t b, int32_t acc) { return __smlabt(a, b, acc); }
static inline int32_t nb_dwp_smlatb(int32_t a, int32_t b, int32_t acc) { return __smlatb(a, b, acc); }
static inline int32_t nb_dwp_smmlar(int32_t a, int32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
#else
static inline int32_t nb_dwp_smlabt(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(nb__lo16(a) * nb__hi16(b)));
}
static inline int32_t nb_dwp_smlatb(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(nb__hi16(a) * nb__lo16(b)));
}
static inline int32_t nb_dwp_smmlar(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(int32_t)(((int64_t)a * b + ((int64_t)1 << 31)) >> 32));
}
#endif
/* [lo16(a), lo16(b)] and [hi16(a), hi16(b)] (PKHBT / PKHTB) */
static inline int32_t nb_dwp_pack_lo(int32_t a, int32_t b)
{
    return (int32_t)(((uint32_t)a & 0xFFFFu) | ((uint32_t)b << 16));
}
static inline int32_t nb_dwp_pack_hi(int32_t a, int32_t b)
{
    return (int32_t)(((uint32_t)a >> 16) | ((uint32_t)b & 0xFFFF0000u));
}

/* geometry of the planar path: plane rows run along the longer output axis ("fast"), the other is "slow" */
typedef struct {
    int32_t os, of;       /* output slow / fast extent */
    int32_t pad_s, pad_f; /* padding before the first input row / column (plane coordinates) */
    int32_t in_s, in_f;   /* input slow / fast extent */
    int32_t ss, fs;       /* input byte strides of slow / fast steps (C * W, C or the transpose) */
    int32_t wp;           /* plane row pitch (int16), even, >= of + 2 */
    int32_t rows;         /* output rows per band */
    int32_t n4;           /* flat outputs of a full band (multiple of 4) */
    int32_t len;          /* int16 per plane (multiple of 4) */
    int32_t g;            /* planes gathered at once (4 or 1) */
    int transposed;       /* slow = x (fast = y) */
} nb_dwp_geo_t;

static int32_t nb_dwp_n4(int32_t rows, int32_t wp, int32_t of) { return ((rows - 1) * wp + of + 3) & ~3; }
static int32_t nb_dwp_len(int32_t rows, int32_t wp, int32_t of)
{
    const int32_t a = (rows + 2) * wp, b = nb_dwp_n4(rows, wp, of) + 2 * wp + 2;
    return ((a > b ? a : b) + 3) & ~3;
}
static int32_t nb_dwp_need(int32_t g, int32_t rows, int32_t wp, int32_t of)
{
    return g * 2 * nb_dwp_len(rows, wp, of) + 4 * nb_dwp_n4(rows, wp, of);
}

#if NB_DSP_NATIVE && defined(__thumb2__)
#define NB_DWP_ASM 1
/* One loop step of the 3x3 planar path: 4 outputs of one channel (r4-r7) from three filter rows; input
 * rows r0 / r1 / r2 (post-incremented by 8 bytes), weight words at [sp, #0..20], start value at [sp, #24]. */
#define NB_DWP_MAC3_STEP \
    "ldr r4, [sp, #24]\n" \
    "ldr r8, [sp, #0]\n" \
    "ldr r9, [sp, #4]\n" \
    "ldr r10, [r0], #8\n" \
    "ldr r11, [r0, #-4]\n" \
    "ldr r12, [r0]\n" \
    "smlatb r5, r10, r8, r4\n" \
    "smlad r6, r11, r8, r4\n" \
    "smlatb r7, r11, r8, r4\n" \
    "smlad r4, r10, r8, r4\n" \
    "smlabt r4, r11, r9, r4\n" \
    "smlad r5, r11, r9, r5\n" \
    "smlabt r6, r12, r9, r6\n" \
    "smlad r7, r12, r9, r7\n" \
    "ldr r8, [sp, #8]\n" \
    "ldr r9, [sp, #12]\n" \
    "ldr r10, [r1], #8\n" \
    "ldr r11, [r1, #-4]\n" \
    "ldr r12, [r1]\n" \
    "smlad r4, r10, r8, r4\n" \
    "smlatb r5, r10, r8, r5\n" \
    "smlad r6, r11, r8, r6\n" \
    "smlatb r7, r11, r8, r7\n" \
    "smlabt r4, r11, r9, r4\n" \
    "smlad r5, r11, r9, r5\n" \
    "smlabt r6, r12, r9, r6\n" \
    "smlad r7, r12, r9, r7\n" \
    "ldr r8, [sp, #16]\n" \
    "ldr r9, [sp, #20]\n" \
    "ldr r10, [r2], #8\n" \
    "ldr r11, [r2, #-4]\n" \
    "ldr r12, [r2]\n" \
    "smlad r4, r10, r8, r4\n" \
    "smlatb r5, r10, r8, r5\n" \
    "smlad r6, r11, r8, r6\n" \
    "smlatb r7, r11, r8, r7\n" \
    "smlabt r4, r11, r9, r4\n" \
    "smlad r5, r11, r9, r5\n" \
    "smlabt r6, r12, r9, r6\n" \
    "smlad r7, r12, r9, r7\n"

/* NB_DWP_MAC3_STEP with the full-range requantization fused in: m, k, e at [sp, #28..36]; the 4 bytes
 * go to [r3, #4 .. #16] (r3 advances by 16). */
#define NB_DWP_MAC3Q_STEP \
    NB_DWP_MAC3_STEP \
    "ldr r8, [sp, #28]\n" \
    "ldr r9, [sp, #32]\n" \
    "ldr r10, [sp, #36]\n" \
    "smmlar r11, r4, r8, r9\n" \
    "add r4, r11, r4, asr #31\n" \
    "smmlar r11, r5, r8, r9\n" \
    "add r5, r11, r5, asr #31\n" \
    "smmlar r11, r6, r8, r9\n" \
    "add r6, r11, r6, asr #31\n" \
    "smmlar r11, r7, r8, r9\n" \
    "add r7, r11, r7, asr #31\n" \
    "asr r4, r4, r10\n" \
    "asr r5, r5, r10\n" \
    "asr r6, r6, r10\n" \
    "asr r7, r7, r10\n" \
    "ssat r4, #8, r4\n" \
    "ssat r5, #8, r5\n" \
    "ssat r6, #8, r6\n" \
    "ssat r7, #8, r7\n" \
    "strb r4, [r3, #4]\n" \
    "strb r5, [r3, #8]\n" \
    "strb r6, [r3, #12]\n" \
    "strb r7, [r3, #16]!\n"

/* One step of nb_dwp_g4_s: 4 channels of two input pixels (r0, r0 + r1; r0 advances by 2 r1), sign-extended
 * to int16, to the 4 channel planes (r2, r10, r11, r12) as one halfword pair each. */
#define NB_DWP_G4_STEP \
    "ldr r4, [r0]\n" \
    "ldr r5, [r0, r1]\n" \
    "add r0, r0, r1, lsl #1\n" \
    "sxtb16 r6, r4\n" \
    "sxtb16 r7, r5\n" \
    "sxtb16 r4, r4, ror #8\n" \
    "sxtb16 r5, r5, ror #8\n" \
    "pkhbt r8, r6, r7, lsl #16\n" \
    "pkhtb r9, r7, r6, asr #16\n" \
    "pkhbt r6, r4, r5, lsl #16\n" \
    "pkhtb r7, r5, r4, asr #16\n" \
    "str r8, [r2], #4\n" \
    "str r6, [r10], #4\n" \
    "str r9, [r11], #4\n" \
    "str r7, [r12], #4\n"

/* nb_dwp_mac3_s(p0, row_bytes, acc, wk, p0_end): the loop of nb_dwp_mac3x3 (wk: w[0..5], start). Three row
 * pointers (post-incremented), the row's two filter words and the start value reloaded from the stack in the
 * load run of each row (14 registers: r0-r2 rows, r3 acc, r4-r7 accumulators, r8/r9 filter, r10-r12 input
 * words, lr end). Per 4 outputs: 17 loads in 3 runs, 24 multiplies, STM. */
__asm__(".syntax unified\n"
        ".thumb\n"
        ".text\n"
        ".p2align 2\n"
        ".type nb_dwp_mac3_s, %function\n"
        ".thumb_func\n"
        "nb_dwp_mac3_s:\n"
        "push {r4-r11, lr}\n"
        "ldr lr, [sp, #36]\n"
        "sub sp, sp, #32\n"
        "mov r12, r1\n"
        "ldm r3, {r4-r10}\n"
        "stm sp, {r4-r10}\n"
        "mov r3, r2\n"
        "add r1, r0, r12\n"
        "add r2, r1, r12\n"
        "1:\n"
        NB_DWP_MAC3_STEP
        "stmia r3!, {r4-r7}\n"
        "cmp r0, lr\n"
        "bne 1b\n"
        "add sp, sp, #32\n"
        "pop {r4-r11, pc}\n"
        ".size nb_dwp_mac3_s, .-nb_dwp_mac3_s\n");
void nb_dwp_mac3_s(const int16_t *p0, int32_t row_bytes, int32_t *acc, const int32_t *wk, const int16_t *p0_end);

/* nb_dwp_mac3q_s(p0, row_bytes, stg, blk, p0_end): nb_dwp_mac3_s with the full-range requantization of
 * nb_dwp_rq_s fused in (blk[7..9] = m, k, e): each output byte goes to stg[4 i] (the caller passes
 * stg + channel j of the group: four channels interleaved per position, ready for word stores); the loop
 * body twice per branch. */
__asm__(".syntax unified\n"
        ".thumb\n"
        ".text\n"
        ".p2align 2\n"
        ".type nb_dwp_mac3q_s, %function\n"
        ".thumb_func\n"
        "nb_dwp_mac3q_s:\n"
        "push {r4-r11, lr}\n"
        "ldr lr, [sp, #36]\n"
        "sub sp, sp, #40\n"
        "mov r12, r1\n"
        "ldm r3!, {r4-r10}\n"
        "stm sp, {r4-r10}\n"
        "ldm r3, {r4-r6}\n"
        "add r7, sp, #28\n"
        "stm r7, {r4-r6}\n"
        "sub r3, r2, #4\n"
        "add r1, r0, r12\n"
        "add r2, r1, r12\n"
        "1:\n"
        NB_DWP_MAC3Q_STEP
        "cmp r0, lr\n"
        "beq 2f\n"
        NB_DWP_MAC3Q_STEP
        "cmp r0, lr\n"
        "bne 1b\n"
        "2:\n"
        "add sp, sp, #40\n"
        "pop {r4-r11, pc}\n"
        ".size nb_dwp_mac3q_s, .-nb_dwp_mac3q_s\n");
void nb_dwp_mac3q_s(const int16_t *p0, int32_t row_bytes, int8_t *stg, const int32_t *blk, const int16_t *p0_end);
/* nb_dwp_scatter4_s(stg, out, ostride, prm): rows x n words of stg (four channels per output position,
 * row pitch wp words: prm = {n, rows, skip bytes of stg, skip bytes of out}) to out (NHWC), 4 per step */
__asm__(".syntax unified\n"
        ".thumb\n"
        ".text\n"
        ".p2align 2\n"
        ".type nb_dwp_scatter4_s, %function\n"
        ".thumb_func\n"
        "nb_dwp_scatter4_s:\n"
        "push {r4-r11, lr}\n"
        "ldm r3, {r8-r11}\n"
        "add r12, r2, r2\n"
        "add lr, r12, r2\n"
        "0:\n"
        "subs r3, r8, #4\n"
        "blt 2f\n"
        "1:\n"
        "ldm r0!, {r4-r7}\n"
        "str r4, [r1]\n"
        "str r5, [r1, r2]\n"
        "str r6, [r1, r12]\n"
        "str r7, [r1, lr]\n"
        "add r1, r1, r2, lsl #2\n"
        "subs r3, r3, #4\n"
        "bge 1b\n"
        "2:\n"
        "adds r3, r3, #4\n"
        "beq 4f\n"
        "3:\n"
        "ldr r4, [r0], #4\n"
        "str r4, [r1]\n"
        "add r1, r1, r2\n"
        "subs r3, r3, #1\n"
        "bne 3b\n"
        "4:\n"
        "add r0, r0, r10\n"
        "add r1, r1, r11\n"
        "subs r9, r9, #1\n"
        "bne 0b\n"
        "pop {r4-r11, pc}\n"
        ".size nb_dwp_scatter4_s, .-nb_dwp_scatter4_s\n");
void nb_dwp_scatter4_s(const int32_t *stg, int8_t *out, int32_t ostride, const int32_t *prm);

/* nb_dwp_rq_s(acc, out, ostride, prm): full-range requantization of `rows` rows of `n` outputs (prm: m, k, e,
 * n, rows, acc_skip, out_skip bytes between rows): four outputs per step (LDM, SMMLAR, ADD of the sign, ASR,
 * SSAT, STRB with register offsets), then the row's n % 4 tail one at a time. */
__asm__(".syntax unified\n"
        ".thumb\n"
        ".text\n"
        ".p2align 2\n"
        ".type nb_dwp_rq_s, %function\n"
        ".thumb_func\n"
        "nb_dwp_rq_s:\n"
        "push {r3-r11, lr}\n"
        "ldm r3, {r8-r10}\n"
        "add r11, r2, r2\n"
        "add r12, r11, r2\n"
        "0:\n"
        "ldr r3, [sp, #0]\n"
        "ldr r3, [r3, #12]\n"
        "subs r3, r3, #4\n"
        "blt 2f\n"
        "1:\n"
        "ldm r0!, {r4-r7}\n"
        "smmlar lr, r4, r8, r9\n"
        "add r4, lr, r4, asr #31\n"
        "smmlar lr, r5, r8, r9\n"
        "add r5, lr, r5, asr #31\n"
        "smmlar lr, r6, r8, r9\n"
        "add r6, lr, r6, asr #31\n"
        "smmlar lr, r7, r8, r9\n"
        "add r7, lr, r7, asr #31\n"
        "asr r4, r4, r10\n"
        "asr r5, r5, r10\n"
        "asr r6, r6, r10\n"
        "asr r7, r7, r10\n"
        "ssat r4, #8, r4\n"
        "ssat r5, #8, r5\n"
        "ssat r6, #8, r6\n"
        "ssat r7, #8, r7\n"
        "strb r4, [r1]\n"
        "strb r5, [r1, r2]\n"
        "strb r6, [r1, r11]\n"
        "strb r7, [r1, r12]\n"
        "add r1, r1, r2, lsl #2\n"
        "subs r3, r3, #4\n"
        "bge 1b\n"
        "2:\n"
        "adds r3, r3, #4\n"
        "beq 4f\n"
        "3:\n"
        "ldr r4, [r0], #4\n"
        "smmlar lr, r4, r8, r9\n"
        "add r4, lr, r4, asr #31\n"
        "asr r4, r4, r10\n"
        "ssat r4, #8, r4\n"
        "strb r4, [r1]\n"
        "add r1, r1, r2\n"
        "subs r3, r3, #1\n"
        "bne 3b\n"
        "4:\n"
        "ldr r3, [sp, #0]\n"
        "ldr r4, [r3, #16]\n"
        "ldr r5, [r3, #20]\n"
        "ldr r6, [r3, #24]\n"
        "subs r4, r4, #1\n"
        "str r4, [r3, #16]\n"
        "add r0, r0, r5\n"
        "add r1, r1, r6\n"
        "bne 0b\n"
        "pop {r3-r11, pc}\n"
        ".size nb_dwp_rq_s, .-nb_dwp_rq_s\n");
void nb_dwp_rq_s(const int32_t *acc, int8_t *out, int32_t ostride, int32_t *prm);
/* nb_dwp_g4_s(src, fs, dst, pitch, npairs): npairs pairs of adjacent plane cells of four channels: two input
 * words (4 channels at cells f, f + 1), SXTB16 x4, PKHBT / PKHTB x4, one word store per plane; two pairs
 * per branch. */
__asm__(".syntax unified\n"
        ".thumb\n"
        ".text\n"
        ".p2align 2\n"
        ".type nb_dwp_g4_s, %function\n"
        ".thumb_func\n"
        "nb_dwp_g4_s:\n"
        "push {r4-r11, lr}\n"
        "ldr lr, [sp, #36]\n"
        "add r10, r2, r3\n"
        "add r11, r10, r3\n"
        "add r12, r11, r3\n"
        "subs lr, lr, #2\n"
        "blt 2f\n"
        "1:\n"
        NB_DWP_G4_STEP
        NB_DWP_G4_STEP
        "subs lr, lr, #2\n"
        "bge 1b\n"
        "2:\n"
        "adds lr, lr, #2\n"
        "beq 3f\n"
        NB_DWP_G4_STEP
        "3:\n"
        "pop {r4-r11, pc}\n"
        ".size nb_dwp_g4_s, .-nb_dwp_g4_s\n");
void nb_dwp_g4_s(const int8_t *src, int32_t fs, int16_t *dst, int32_t pitch, int32_t npairs);
#else
#define NB_DWP_ASM 0
#endif

/* gather plane rows [k0, k1) of the band starting at padded slow row s0 for channels c..c+g-1 (planes
 * pl + j * len): in-bounds cells get the input value, the others (padding) the input zero point when
 * `pads` (they keep it otherwise) */
static void nb_dwp_gather(const nb_dwp_geo_t *q, const int8_t *in, int32_t c, int32_t s0, int32_t k0, int32_t k1,
                          int32_t zp, int pads, int16_t *pl)
{
    const int32_t wp = q->wp, len = q->len, g = q->g;
    const int32_t f0 = q->pad_f > 0 ? q->pad_f : 0;
    const int32_t f1 = q->pad_f + q->in_f < wp ? q->pad_f + q->in_f : wp; /* interior plane columns [f0, f1) */
    int32_t k, f, j;
    for (k = k0; k < k1; ++k) {
        const int32_t is = s0 + k - q->pad_s;
        int16_t *row = pl + k * wp;
        if (is < 0 || is >= q->in_s || f0 >= f1) {
            if (pads) {
                for (j = 0; j < g; ++j) {
                    for (f = 0; f < wp; ++f) {
                        row[j * len + f] = (int16_t)zp;
                    }
                }
            }
            continue;
        }
        {
            const int8_t *src = in + is * q->ss + (f0 - q->pad_f) * q->fs + c;
            const int32_t fs = q->fs;
            f = f0;
            if (pads) {
                for (j = 0; j < g; ++j) {
                    int32_t t;
                    for (t = 0; t < f0; ++t) {
                        row[j * len + t] = (int16_t)zp;
                    }
                    for (t = f1; t < wp; ++t) {
                        row[j * len + t] = (int16_t)zp;
                    }
                }
            }
            if (g == 4) {
                if (f & 1) {
                    for (j = 0; j < 4; ++j) {
                        row[j * len + f] = src[j];
                    }
                    ++f;
                    src += fs;
                }
#if NB_DWP_ASM
                if (f + 1 < f1) {
                    const int32_t np = (f1 - f) / 2;
                    nb_dwp_g4_s(src, fs, row + f, 2 * len, np);
                    f += 2 * np;
                    src += 2 * np * fs;
                }
#endif
                for (; f + 1 < f1; f += 2, src += 2 * fs) {
                    const uint32_t v0 = nb_read_u32(src), v1 = nb_read_u32(src + fs);
                    const int32_t e0 = nb_sxtb16(v0), e1 = nb_sxtb16(v1);
                    const int32_t o0 = nb_sxtb16_ror8(v0), o1 = nb_sxtb16_ror8(v1);
                    nb_write_u32(row + f, (uint32_t)nb_dwp_pack_lo(e0, e1));
                    nb_write_u32(row + len + f, (uint32_t)nb_dwp_pack_lo(o0, o1));
                    nb_write_u32(row + 2 * len + f, (uint32_t)nb_dwp_pack_hi(e0, e1));
                    nb_write_u32(row + 3 * len + f, (uint32_t)nb_dwp_pack_hi(o0, o1));
                }
                if (f < f1) {
                    for (j = 0; j < 4; ++j) {
                        row[j * len + f] = src[j];
                    }
                }
            } else {
                for (; f < f1; ++f, src += fs) {
                    row[f] = *src;
                }
            }
        }
    }
}


/* acc[i] = start + sum_{r,k < 3} w(r, k) * pl[i + r * wp + k] for i in [0, n4), the filter doubled and packed
 * as w[2r] = [w(r,0), w(r,1)], w[2r+1] = [w(r,1), w(r,2)], start = w[6]: per row and 4 outputs three words
 * A = [p0, p1], B = [p2, p3], C = [p4, p5] and 8 multiplies. */
static void nb_dwp_mac3x3(const int16_t *pl, int32_t wp, int32_t n4, const int32_t *w, int32_t *acc)
{
#if NB_DWP_ASM
    nb_dwp_mac3_s(pl, 2 * wp, acc, w, pl + n4);
#else
    const int32_t start = w[6];
    int32_t i, r;
    for (i = 0; i < n4; i += 4) {
        int32_t a0 = start, a1 = start, a2 = start, a3 = start;
        for (r = 0; r < 3; ++r) {
            const int16_t *p = pl + i + r * wp;
            const int32_t x01 = (int32_t)nb_read_u32(p), x23 = (int32_t)nb_read_u32(p + 2);
            const int32_t x45 = (int32_t)nb_read_u32(p + 4);
            const int32_t w01 = w[2 * r], w12 = w[2 * r + 1];
            a0 = nb_smlad(x01, w01, a0);
            a0 = nb_dwp_smlabt(x23, w12, a0);
            a1 = nb_smlad(x23, w12, a1);
            a1 = nb_dwp_smlatb(x01, w01, a1);
            a2 = nb_smlad(x23, w01, a2);
            a2 = nb_dwp_smlabt(x45, w12, a2);
            a3 = nb_smlad(x45, w12, a3);
            a3 = nb_dwp_smlatb(x23, w01, a3);
        }
        acc[i] = a0;
        acc[i + 1] = a1;
        acc[i + 2] = a2;
        acc[i + 3] = a3;
    }
#endif
}

/* requantize `n` doubled accumulators (stride 1) to int8 at out (stride os): y = (SMMLAR(a, m, k) + [a < 0])
 * >> e, k = 2^(e-1) + zp * 2^e (see nb_dwp_channel_ok), then SSAT #8 or the activation clamp */
static void nb_dwp_requant(const int32_t *acc, int32_t n, int8_t *out, int32_t os, int32_t m, int32_t k, int32_t e,
                           int full, int32_t act_min, int32_t act_max)
{
    int32_t i;
    if (full) {
        for (i = 0; i < n; ++i, out += os) {
            const int32_t a = acc[i];
            *out = (int8_t)nb_ssat8((nb_dwp_smmlar(a, m, k) + (a >> 31)) >> e);
        }
    } else {
        for (i = 0; i < n; ++i, out += os) {
            const int32_t a = acc[i];
            int32_t y = (nb_dwp_smmlar(a, m, k) + (a >> 31)) >> e;
            y = y < act_min ? act_min : y;
            *out = (int8_t)(y > act_max ? act_max : y);
        }
    }
}

/* The planar requantization is exact when m >= 0, e = -shift in 1..23 and |acc| < 2^29 (|bias| <= 2^28:
 * nine taps add less than 2^19): with y = SMMULR(2 acc, m) == SaturatingRoundingDoublingHighMul(acc, m)
 * (|acc| < 2^30), RoundingDivideByPOT(y, e) + zp == (y + 2^(e-1) + zp * 2^e - [y < 0]) >> e, where
 * [y < 0] may be [acc < 0] (both give 0 when acc < 0 but y == 0, e >= 1) and the sum stays below 2^31. */
static int nb_dwp_channel_ok(int32_t mult, int32_t shift, const int32_t *bias, int32_t c)
{
    const int32_t b = bias != NULL ? bias[c] : 0;
    return mult >= 0 && shift <= -1 && shift >= -23 && b <= (1 << 28) && b >= -(1 << 28);
}

/* blk[0..9] of channel c: the doubled filter rows packed for nb_dwp_mac3_s (toff: filter offset of plane tap
 * r * 3 + k), the doubled start value, m, k = 2^(e-1) + zp * 2^e and e; returns e */
static int32_t nb_dwp_chan(const nb_depthwise_conv2d_params_t *p, const int8_t *filter, const int32_t *bias,
                           const int32_t *toff, int32_t c, int32_t *blk)
{
    const int8_t *fc = filter + c;
    const int32_t t0 = fc[toff[0]], t1 = fc[toff[1]], t2 = fc[toff[2]], t3 = fc[toff[3]];
    const int32_t t4 = fc[toff[4]], t5 = fc[toff[5]], t6 = fc[toff[6]], t7 = fc[toff[7]];
    const int32_t t8 = fc[toff[8]], e = -p->out_shift[c];
    const int32_t sum = t0 + t1 + t2 + t3 + t4 + t5 + t6 + t7 + t8;
    blk[0] = nb_dwp_pack_lo(2 * t0, 2 * t1);
    blk[1] = nb_dwp_pack_lo(2 * t1, 2 * t2);
    blk[2] = nb_dwp_pack_lo(2 * t3, 2 * t4);
    blk[3] = nb_dwp_pack_lo(2 * t4, 2 * t5);
    blk[4] = nb_dwp_pack_lo(2 * t6, 2 * t7);
    blk[5] = nb_dwp_pack_lo(2 * t7, 2 * t8);
    blk[6] = (int32_t)((uint32_t)nb_add_wrap(bias != NULL ? bias[c] : 0, -p->input_zero_point * sum) << 1);
    blk[7] = p->out_multiplier[c];
    blk[8] = (1 << (e - 1)) + p->output_zero_point * (1 << e); /* |zp| 2^e <= 2^30 */
    blk[9] = e;
    return e;
}

/* returns 0 (nothing done) when the call does not qualify or the scratch is too small; not inlined, so the
 * streaming calls' direct path keeps its small frame */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int nb_dw_planar(const nb_depthwise_conv2d_params_t *p, const int8_t *input, const int8_t *filter,
                        const int32_t *bias, int8_t *output)
{
    const int32_t C = p->in.c, zp = p->input_zero_point;
    const int32_t act_min = p->act_min, act_max = p->act_max;
    const int full = act_min == NB_INT8_MIN && act_max == NB_INT8_MAX;
    const int32_t avail = (int32_t)sizeof(nb_kernel_scratch);
    nb_dwp_geo_t q;
    int16_t *pl;
    int32_t *acc;
    int32_t b, c, s0, j, toff[9], ostride, rstride;

    if (p->depth_multiplier != 1 || p->filter.h != 3 || p->filter.w != 3 || p->stride_h != 1 || p->stride_w != 1 ||
        p->dilation_h != 1 || p->dilation_w != 1 || p->out.h < 1 || p->out.w < 1) {
        return 0;
    }
    for (c = 0; c < C; ++c) {
        if (!nb_dwp_channel_ok(p->out_multiplier[c], p->out_shift[c], bias, c)) {
            return 0;
        }
    }
    q.transposed = p->out.h > p->out.w;
    if (q.transposed) {
        q.os = p->out.w, q.of = p->out.h, q.pad_s = p->pad_w, q.pad_f = p->pad_h;
        q.in_s = p->in.w, q.in_f = p->in.h, q.ss = C, q.fs = p->in.w * C;
    } else {
        q.os = p->out.h, q.of = p->out.w, q.pad_s = p->pad_h, q.pad_f = p->pad_w;
        q.in_s = p->in.h, q.in_f = p->in.w, q.ss = p->in.w * C, q.fs = C;
    }
    q.wp = (q.of + 3) & ~1;
    if ((q.of & 1) != 0 && q.pad_f == 1 && q.in_f == q.of) {
        q.wp = q.of + 1; /* 'same': a row's right padding cell is the next row's left one (column 0) */
    }
    q.g = C >= 4 ? 4 : 1;
    for (;;) {
        int32_t lo = 1, hi = q.os;
        if (nb_dwp_need(q.g, 1, q.wp, q.of) <= avail) {
            while (lo < hi) { /* largest band height that fits */
                const int32_t mid = (lo + hi + 1) / 2;
                if (nb_dwp_need(q.g, mid, q.wp, q.of) <= avail) {
                    lo = mid;
                } else {
                    hi = mid - 1;
                }
            }
            q.rows = lo;
            break;
        }
        if (q.g == 1) {
            return 0;
        }
        q.g = 1;
    }
    q.n4 = nb_dwp_n4(q.rows, q.wp, q.of);
    q.len = nb_dwp_len(q.rows, q.wp, q.of);
    pl = (int16_t *)(void *)nb_kernel_scratch;
    acc = (int32_t *)(void *)(pl + q.g * q.len);
    { /* padding and the tail read by the last outputs: the zero point (len is a multiple of 4) */
        const uint32_t zz = (uint32_t)(uint16_t)zp * 0x10001u;
        uint32_t *w32 = (uint32_t *)(void *)pl;
        for (j = 0; j < q.g * q.len / 2; j += 2) {
            w32[j] = zz;
            w32[j + 1] = zz;
        }
    }
    for (j = 0; j < 9; ++j) { /* filter tap of plane row r = j / 3, column k = j % 3 */
        toff[j] = (q.transposed ? (j % 3) * 3 + j / 3 : j) * C;
    }
    ostride = q.transposed ? p->out.w * C : C; /* along a plane row */
    rstride = q.transposed ? C : p->out.w * C;  /* between plane rows */
    for (b = 0; b < p->out.n; ++b) {
        const int8_t *in = input + b * p->in.h * p->in.w * C;
        int8_t *out_b = output + b * p->out.h * p->out.w * C;
        for (s0 = 0; s0 < q.os; s0 += q.rows) {
            const int32_t rows = q.os - s0 < q.rows ? q.os - s0 : q.rows;
            const int32_t n4 = nb_dwp_n4(rows, q.wp, q.of);
            /* one band: the padding cells are written once (above) and only the interior changes */
            const int pads = q.rows < q.os;
            int8_t *const o_band = out_b + s0 * rstride;
            for (c = 0; c < C;) {
                const int32_t g = C - c >= 4 ? q.g : 1;
                nb_dwp_geo_t qq = q;
                qq.g = g;
                nb_dwp_gather(&qq, in, c, s0, 0, rows + 2, zp, pads, pl);
                for (j = 0; j < g; ++j, ++c) {
                    /* blk: packed doubled filter rows, start value (nb_dwp_mac3_s), then m, k, e, of, rows,
                     * accumulator and output skips (nb_dwp_rq_s) */
                    int32_t blk[14], s;
                    const int32_t e = nb_dwp_chan(p, filter, bias, toff, c, blk);
                    blk[10] = q.of;
                    blk[11] = rows;
                    blk[12] = 4 * (q.wp - q.of);
                    blk[13] = rstride - q.of * ostride;
#if NB_DWP_ASM
                    if (!(full && g == 4)) {
                        nb_dwp_mac3x3(pl + j * q.len, q.wp, n4, blk, acc);
                    }
#else
                    nb_dwp_mac3x3(pl + j * q.len, q.wp, n4, blk, acc);
#endif
#if NB_DWP_ASM
                    if (full && g == 4) { /* requantized bytes interleaved per position, then word stores */
                        nb_dwp_mac3q_s(pl + j * q.len, 2 * q.wp, (int8_t *)(void *)acc + j, blk, pl + j * q.len + n4);
                        if (j == 3) {
                            int32_t sp[4];
                            sp[0] = q.of, sp[1] = rows, sp[2] = 4 * (q.wp - q.of), sp[3] = rstride - q.of * ostride;
                            nb_dwp_scatter4_s(acc, o_band + c - 3, ostride, sp);
                        }
                        continue;
                    }
                    if (full) {
                        nb_dwp_rq_s(acc, o_band + c, ostride, blk + 7);
                        continue;
                    }
#endif
                    for (s = 0; s < rows; ++s) {
                        nb_dwp_requant(acc + s * q.wp, q.of, o_band + c + s * rstride, ostride, blk[7], blk[8], e,
                                       full, act_min, act_max);
                    }
                }
            }
        }
    }
    return 1;
}

#endif /* NB_DSP_DW_PLANAR */

#if NB_DSP_DW_TABLED
/* the tabled path (and the reference loop for other depth multipliers or a too small scratch); a separate
 * function so that nb_depthwise_conv2d, and with it the streaming calls' direct path, keeps a small frame */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void nb_dw_tabled(const nb_depthwise_conv2d_params_t *p, const int8_t *input, const int8_t *filter,
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

#endif /* NB_DSP_DW_TABLED */

void nb_depthwise_conv2d(const nb_depthwise_conv2d_params_t *p, const int8_t *input, const int8_t *filter,
                         const int32_t *bias, int8_t *output)
{
    if (p->depth_multiplier == 1 && p->out.n * p->out.h * p->out.w <= NB_DW_DIRECT_MAX_POS &&
        p->filter.h * p->filter.w <= NB_DW_DIRECT_MAX_TAPS) {
        nb_dw_direct(p, input, filter, bias, output);
        return;
    }
#if NB_DSP_DW_PLANAR
    if (!nb_dw_planar(p, input, filter, bias, output))
#endif
    {
#if NB_DSP_DW_TABLED
        nb_dw_tabled(p, input, filter, bias, output);
#else
        nb_depthwise_conv2d_ref(p, input, filter, bias, output);
#endif
    }
}
