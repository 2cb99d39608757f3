/* nb_depthwise_conv2d_mve.c - int8 DEPTHWISE_CONV_2D for Cortex-M55 (MVE / Helium); defines
 * nb_depthwise_conv2d (see nb_depthwise_conv2d.h). Bit-exact to nb_depthwise_conv2d.c (TFLM). Paths:
 *
 * 1. At most NB_DWM_DIRECT_MAX_POS output positions (streaming models) and <= 16 taps: nb_dwm_direct, no
 *    preparation and no scratch (eight channels per step, VMULLB / VMULLT from the bias).
 * 2. Depth multiplier 1, kernel <= 3x3, stride 1, dilation 1 (kws_ref_model's 3x3 'same'): nb_dwm_win, the
 *    4x4-window path (see its comment below): per channel, one 4-word gather (four 4-byte rows of a column
 *    strip) loads a 4x4 input window that feeds four VMLADAV.S8 (2 x 2 outputs); the sums of 4 channels are
 *    requantized together (one VLDRW per output pixel, per-channel parameters as vectors) and stored with a
 *    contiguous VSTRB.32. Scratch: NB_DWM_FIX_BYTES (start values, filter grids, zero-point row,
 *    accumulators) + the column strips of 16 channels (their row chunk adapts to the rest; NB_DWM_WIN_BYTES =
 *    7808 holds the kws shape in one chunk). A scratch that cannot hold one row step: path 3.
 * 3. Other shapes with depth multiplier 1: eight channels per step (VLDRB.S16 widening loads of input and of
 *    the filter, reordered once per call to [channel group][tap][8] so one pointer walks it, VMULLB / VMULLT
 *    into even / odd channel int32 accumulators, VADD), the rest four per vector (VLDRB.S32, VMUL + VADD; MVE
 *    has no vector-by-vector VMLA), tail channels predicated. The input offset is folded into per-call start
 *    values start[c] = bias[c] + (-input_zp) * sum_taps w[c], taps outside the input read a row of input_zp
 *    bytes. Even / odd start values and requantization parameters are deinterleaved once per call; the
 *    accumulators of one position go to a row buffer and are requantized in a separate loop
 *    (nb_mve_requant_rs when every shift is <= 0), re-interleaved with VMOVNB / VMOVNT, stored with
 *    VSTRB.16. Scratch: 4 * ceil4(c) + 16 * floor8(c) + 4 * kh*kw + ceil16(c) + ceil16(kh*kw*floor8(c)) bytes.
 * 4. Other depth multipliers or a too small scratch: the reference loop.
 * convert.kernel_variants.scratch_bytes gives the larger of the needs of paths 2 and 3 (kernels <= 3x3). */
#include <string.h>
#include "nb_depthwise_conv2d.h"
#include "nb_mve.h"
#include "nb_kernel_paths.h"

/* Path switches (nb_kernel_paths.h, written per model by the code generator from
 * convert.kernel_variants.path_switches; default 1: every path): NB_MVE_DW_WINDOW 0 compiles path 2 out (no op
 * of the model is a <= 3x3 stride-1 depthwise with more than NB_DWM_DIRECT_MAX_POS positions),
 * NB_MVE_DW_GENERAL 0 path 3 (every op takes path 1; a call that does not then runs the reference loop). */
#ifndef NB_MVE_DW_WINDOW
#define NB_MVE_DW_WINDOW 1
#endif
#ifndef NB_MVE_DW_GENERAL
#define NB_MVE_DW_GENERAL 1
#endif

#if NB_MVE_DW_GENERAL
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

#endif /* NB_MVE_DW_GENERAL */

/* Few output positions (streaming calls): no per-call preparation. Valid taps only (tin: input pixel, tw:
 * filter row); eight channels per step: VLDRB.S16 of input (+ input offset, x - zp fits int16) and filter,
 * VMULLB / VMULLT into even / odd int32 accumulators started from the bias, requantization parameters of the
 * even / odd channels by gather loads (VLDRW offsets 0, 2, 4, 6 words); the rest four channels per vector,
 * the tail predicated. */
#define NB_DWM_DIRECT_MAX_POS 3
#define NB_DWM_DIRECT_MAX_TAPS 16

#if !NB_MVE_DW_GENERAL && defined(__GNUC__)
/* without path 3 (NB_MVE_DW_GENERAL 0) GCC's copy of this inlined into nb_depthwise_conv2d runs the streaming
 * calls ~5 % slower than the one it inlines into the full function; kept apart (as the reference fallback,
 * nb_dwm_ref) it is within 1 % (measured on the default VAD) */
__attribute__((noinline))
#endif
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
            for (ox = 0; ox < p->out.w; ++ox) {
                int8_t *out = output + ((b * p->out.h + oy) * p->out.w + ox) * C;
                const int32_t n = nb_dw_valid_taps(p, input, filter, b, oy, ox, tin, tw);
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

#if NB_MVE_DW_WINDOW
/* ---- Many output positions, kernel <= 3x3, stride 1, dilation 1: the 4x4 window path ----
 * "rows": the longer output axis (walk), "columns": the other one. Output columns go in strips of two (a
 * last single one when their count is odd); strip j (output columns 2j, 2j + 1) reads input columns
 * 2j .. 2j + 3 of the padded chunk. Per group of 16 channels, chunk of rows and chunk of <= 16 output
 * columns, D[t][j][i][k] (row stride rs = 64 * strips) holds input row t, column 2j + k of channel i: every
 * input column is stored twice (strips overlap by 2), built per row and strip with 4 VLDRB of 16 channels
 * + one VST4 (positions outside the input read the input zero point). So the 4 columns of strip j at row t
 * are one aligned word (d + 64j + 4i + t * rs), and the 4x4 window of rows t .. t + 3 (lane 4 * row +
 * column) is one VLDRW gather of 4 words with offsets {0, rs, 2rs, 3rs} (4 elements; a contiguous 16-byte
 * window would need [i][t][k], i.e. a second word transpose (VST4.32) per row phase, dearer than the
 * gather). It feeds four VMLADAV.S8 with the channel's filter placed on the 4x4 grid at the four output
 * offsets (unused lanes 0): 2 x 2 outputs, up to 36 MACs. Per quad of 4 channels the sums go to acc as
 * [output pixel][channel of the quad] (pixel order: walk along H [row][column], else [column][row]); then
 * per pixel one VLDRW, + start value bias - zp * sum(w) (the input offset folded in), VQRDMULH / rounding
 * shift (TFLM double rounding; every shift <= 0 and a relu-type clamp, act_min >= output zero point: no
 * round-half-away fixup, 8 vector instructions per pixel; else the fixup or nb_mve_requant), output offset,
 * clamp and one VSTRB.32 of 4 contiguous NHWC bytes (predicated for a channel tail): no scatter.
 * Scratch: start values, filter grids, zero-point row, acc (NB_DWM_ACC_BYTES), then D (the rest: the row
 * chunk adapts to the scratch size; NB_DWM_WIN_BYTES, what convert.kernel_variants.scratch_bytes asks for,
 * holds the kws shape, 25 x 5 with 64 channels, in one chunk). */
#define NB_DWM_G 16         /* channels per group */
#define NB_DWM_MAX_COLS 16  /* output columns per column chunk */
#define NB_DWM_ACC_BYTES 2080
#define NB_DWM_FIX_BYTES (4 * NB_DWM_G + 16 + 16 * NB_DWM_G + 16 + NB_DWM_ACC_BYTES)
#define NB_DWM_WIN_BYTES (NB_DWM_FIX_BYTES + 5376) /* 7808 */

/* requantization parameters of one 4-channel quad */
typedef struct {
    int32x4_t start, mult, shift, lo, hi;
    int32_t cq, rs, out_zp, act_min, act_max;
} nb_dwm_quad_t;

/* Requantization of one 4-channel quad (lanes: channels c .. c + 3 of the group, cq of them live) at n
 * positions: acc[4 * e + lane] for position e (one VLDRW), out + e * C (VSTRB.32 of 4 contiguous bytes; the
 * live lanes only when cq < 4). x + start, then as nb_mve_requant: rs == 2 (every shift <= 0 and act_min >=
 * out_zp, relu-type clamps) VQRDMULH, VRSHL (8 vector instructions per position); rs == 1 (every live shift
 * < 0) VQRDMULH, VSHR #31 + VQADD (RoundingDivideByPOT rounds half away from zero), VRSHL; else
 * nb_mve_requant. */
static void __attribute__((noinline)) nb_dwm_rq4(const int32_t *acc, int32_t n, int32_t C, const nb_dwm_quad_t *q,
                                                 int8_t *out)
{
    const int32x4_t start = q->start, mult = q->mult, shift = q->shift, lo = q->lo, hi = q->hi;
    const int32_t out_zp = q->out_zp;
    int32_t e;
    if (q->cq == 4 && q->rs == 2) {
        /* every shift <= 0 and act_min >= out_zp: no round-half-away fixup (a negative product rounds to a
         * value <= 0 either way, which the clamp lifts to act_min) */
        for (e = 0; e < n; ++e) {
            int32x4_t x = vqrdmulhq_s32(vaddq_s32(vldrwq_s32(acc), start), mult);
            acc += 4;
            x = vrshlq_s32(x, shift);
            vstrbq_s32(out, vminq_s32(vmaxq_s32(vaddq_n_s32(x, out_zp), lo), hi));
            out += C;
        }
    } else if (q->cq == 4 && q->rs) {
        for (e = 0; e < n; ++e) {
            int32x4_t x = vqrdmulhq_s32(vaddq_s32(vldrwq_s32(acc), start), mult);
            acc += 4;
            x = vrshlq_s32(vqaddq_s32(x, vshrq_n_s32(x, 31)), shift);
            vstrbq_s32(out, vminq_s32(vmaxq_s32(vaddq_n_s32(x, out_zp), lo), hi));
            out += C;
        }
    } else {
        const mve_pred16_t pr = vctp32q((uint32_t)q->cq);
        for (e = 0; e < n; ++e) {
            const int32x4_t x = vaddq_s32(vldrwq_s32(acc), start);
            acc += 4;
            vstrbq_p_s32(out, nb_mve_requant(x, mult, shift, out_zp, q->act_min, q->act_max), pr);
            out += C;
        }
    }
}

/* VST4 through an opaque copy of the pointer: GCC 12 folds a register step into VST43, which has no such
 * writeback form (assembler error). */
static inline void nb_dwm_vst4(int8_t *d, int8x16x4_t q)
{
    __asm__("" : "+r"(d));
    vst4q_s8(d, q);
}

/* D rows [0, nt) of one strip (row stride rs): rows [0, t_lo) and [t_hi, nt) all zero point, rows
 * [t_lo, t_hi) from pk[k] (+ row * sk[k]): VST4 of 4 x 16 channels (cg < 16: predicated loads). */
static void __attribute__((noinline)) nb_dwm_build_d(int8_t *d, int32_t rs, const int8_t *const *pk,
                                                     const int32_t *sk, int32_t t_lo, int32_t t_hi, int32_t nt,
                                                     int8x16_t zpv, int32_t cg)
{
    const int8_t *p0 = pk[0], *p1 = pk[1], *p2 = pk[2], *p3 = pk[3];
    const int32_t s0 = sk[0], s1 = sk[1], s2 = sk[2], s3 = sk[3];
    int8x16x4_t q;
    int32_t t;
    for (t = 0; t < t_lo; ++t) {
        vstrbq_s8(d, zpv);
        vstrbq_s8(d + 16, zpv);
        vstrbq_s8(d + 32, zpv);
        vstrbq_s8(d + 48, zpv);
        d += rs;
    }
    if (cg == NB_DWM_G) {
        for (; t < t_hi; ++t) {
            q.val[0] = vldrbq_s8(p0);
            q.val[1] = vldrbq_s8(p1);
            q.val[2] = vldrbq_s8(p2);
            q.val[3] = vldrbq_s8(p3);
            nb_dwm_vst4(d, q);
            d += rs;
            p0 += s0;
            p1 += s1;
            p2 += s2;
            p3 += s3;
        }
    } else {
        const mve_pred16_t pc = vctp8q((uint32_t)cg);
        for (; t < t_hi; ++t) {
            q.val[0] = vldrbq_z_s8(p0, pc);
            q.val[1] = vldrbq_z_s8(p1, pc);
            q.val[2] = vldrbq_z_s8(p2, pc);
            q.val[3] = vldrbq_z_s8(p3, pc);
            nb_dwm_vst4(d, q);
            d += rs;
            p0 += s0;
            p1 += s1;
            p2 += s2;
            p3 += s3;
        }
    }
    for (; t < nt; ++t) {
        vstrbq_s8(d, zpv);
        vstrbq_s8(d + 16, zpv);
        vstrbq_s8(d + 32, zpv);
        vstrbq_s8(d + 48, zpv);
        d += rs;
    }
}

/* nb_dwm_mac2's assembly steps: the four VMLADAV.S8 of one gathered window (q4) into r4, r6, r8, r12, and
 * their four stores (acc[0], acc[4], and ro bytes further two more int32). */
#define NB_DWM_MAC4                                                                                           \
    "   vmladav.s8 r4, q4, %q[wa]\n"                                                                          \
    "   vmladav.s8 r6, q4, %q[wb]\n"                                                                          \
    "   vmladav.s8 r8, q4, %q[wc]\n"                                                                          \
    "   vmladav.s8 r12, q4, %q[wd]\n"
#define NB_DWM_STORE4                                                                                         \
    "   str     r6, [%[a], #16]\n"                                                                            \
    "   str     r8, [%[a], %[ro]]\n"                                                                          \
    "   str     r12, [%[a], %[ro4]]\n"                                                                        \
    "   str     r4, [%[a]]\n"

/* Two-column strip, steps >= 1: per step one word gather at src + offs (rows 2j .. 2j + 3; src advances by two
 * D rows, r2), four VMLADAV.S8 (weights a, b, c, d), stored to acc[0], acc[4] and, ro bytes further, to two
 * more int32; acc advances by adv bytes (assembly: GCC duplicates the gather or reloads the offsets). */
static inline void nb_dwm_mac2(const int8_t *src, uint32x4_t offs, int32_t r2, int8x16_t wa, int8x16_t wb,
                               int8x16_t wc, int8x16_t wd, int32_t steps, int32_t *acc, int32_t ro, int32_t adv)
{
#ifndef __OPTIMIZE__ /* -O0 keeps too few registers for the assembly: the same loop in C */
    int32_t *acc2 = (int32_t *)(void *)((int8_t *)acc + ro);
    int32_t j;
    for (j = 0; j < steps; ++j) {
        const int8x16_t x = vreinterpretq_s8_u32(vldrwq_gather_offset_u32((const uint32_t *)(const void *)src, offs));
        src += r2;
        acc[0] = vmladavq_s8(x, wa);
        acc[4] = vmladavq_s8(x, wb);
        acc2[0] = vmladavq_s8(x, wc);
        acc2[4] = vmladavq_s8(x, wd);
        acc = (int32_t *)(void *)((int8_t *)acc + adv);
        acc2 = (int32_t *)(void *)((int8_t *)acc2 + adv);
    }
#else
    /* two steps per iteration (the second window at offs + r2), then the odd one */
    __asm__ volatile(
        "   lsrs    lr, %[n], #1\n"
        "   wls     lr, lr, 2f\n"
        "1: vldrw.u32 q4, [%[s], %q[o]]\n"
        NB_DWM_MAC4
        "   vldrw.u32 q4, [%[s], %q[o1]]\n"
        "   add     %[s], %[s], %[r4x]\n"
        NB_DWM_STORE4
        "   add     %[a], %[a], %[adv]\n"
        NB_DWM_MAC4
        NB_DWM_STORE4
        "   add     %[a], %[a], %[adv]\n"
        "   le      lr, 1b\n"
        "2: tst     %[n], #1\n"
        "   beq     3f\n"
        "   vldrw.u32 q4, [%[s], %q[o]]\n"
        NB_DWM_MAC4
        NB_DWM_STORE4
        "3:\n"
        : [s] "+r"(src), [a] "+r"(acc)
        : [n] "r"(steps), [o] "w"(offs), [o1] "w"(vaddq_n_u32(offs, (uint32_t)r2)), [r4x] "r"(2 * r2),
          [adv] "r"(adv), [ro] "r"(ro), [ro4] "r"(ro + 16), [wa] "w"(wa), [wb] "w"(wb), [wc] "w"(wc),
          [wd] "w"(wd)
        : "r4", "r6", "r8", "r12", "lr", "q4", "memory", "cc");
#endif
}

/* Single-column strip: outputs 2j, 2j + 1 to acc and acc + ro bytes; acc advances by adv bytes. */
static inline void nb_dwm_mac1(const int8_t *src, uint32x4_t offs, int32_t r2, int8x16_t wa, int8x16_t wc,
                               int32_t steps, int32_t *acc, int32_t ro, int32_t adv)
{
#ifndef __OPTIMIZE__ /* as nb_dwm_mac2 */
    int32_t j;
    for (j = 0; j < steps; ++j) {
        const int8x16_t x = vreinterpretq_s8_u32(vldrwq_gather_offset_u32((const uint32_t *)(const void *)src, offs));
        src += r2;
        acc[0] = vmladavq_s8(x, wa);
        *(int32_t *)(void *)((int8_t *)acc + ro) = vmladavq_s8(x, wc);
        acc = (int32_t *)(void *)((int8_t *)acc + adv);
    }
#else
    __asm__ volatile( /* two steps per iteration, then the odd one (as nb_dwm_mac2) */
        "   lsrs    lr, %[n], #1\n"
        "   wls     lr, lr, 2f\n"
        "1: vldrw.u32 q4, [%[s], %q[o]]\n"
        "   vmladav.s8 r4, q4, %q[wa]\n"
        "   vmladav.s8 r6, q4, %q[wc]\n"
        "   vldrw.u32 q4, [%[s], %q[o1]]\n"
        "   add     %[s], %[s], %[r4x]\n"
        "   vmladav.s8 r8, q4, %q[wa]\n"
        "   vmladav.s8 r12, q4, %q[wc]\n"
        "   str     r4, [%[a]]\n"
        "   str     r6, [%[a], %[ro]]\n"
        "   add     %[a], %[a], %[adv]\n"
        "   str     r8, [%[a]]\n"
        "   str     r12, [%[a], %[ro]]\n"
        "   add     %[a], %[a], %[adv]\n"
        "   le      lr, 1b\n"
        "2: tst     %[n], #1\n"
        "   beq     3f\n"
        "   vldrw.u32 q4, [%[s], %q[o]]\n"
        "   vmladav.s8 r4, q4, %q[wa]\n"
        "   vmladav.s8 r6, q4, %q[wc]\n"
        "   str     r4, [%[a]]\n"
        "   str     r6, [%[a], %[ro]]\n"
        "3:\n"
        : [s] "+r"(src), [a] "+r"(acc)
        : [n] "r"(steps), [o] "w"(offs), [o1] "w"(vaddq_n_u32(offs, (uint32_t)r2)), [r4x] "r"(2 * r2),
          [ro] "r"(ro), [adv] "r"(adv), [wa] "w"(wa), [wc] "w"(wc)
        : "r4", "r6", "r8", "r12", "lr", "q4", "memory", "cc");
#endif
}

/* One (group, batch, row chunk, column chunk): per quad of 4 channels, per channel all strips (int32 sums to
 * acc, lane = channel in the quad), then the quad's requantization, one call per NHWC-contiguous segment. */
typedef struct {
    const int8_t *d, *wg;                /* D, filter grids (16 bytes per channel, 16 zero bytes before) */
    const int32_t *start, *mult, *shift; /* the group's first channel */
    int32_t *acc;
    int8_t *out; /* output of (chunk row 0, chunk column 0, group channel 0) */
    int32_t cg, ncc, nrc, steps, walk_h, r2, C, sr_out, sa_out, out_zp, act_min, act_max;
} nb_dwm_chunk_t;

static void __attribute__((noinline)) nb_dwm_chunk(const nb_dwm_chunk_t *k)
{
    const int32_t ncc = k->ncc, steps = k->steps, nrc = k->nrc, C = k->C, cg = k->cg;
    /* acc position of (row, column): row * ra + column * ca; int32 index 4 * position + lane */
    const int32_t ra = k->walk_h ? ncc : 1, ca = k->walk_h ? 1 : 2 * steps;
    const int32_t ro2 = 16 * (k->walk_h ? ra : ca), adv2 = 32 * ra;
    const uint32x4_t offs = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)(k->r2 / 2)); /* D rows 0 .. 3 */
    nb_dwm_quad_t q;
    int32_t c, i, a0;
    q.lo = vdupq_n_s32(k->act_min);
    q.hi = vdupq_n_s32(k->act_max);
    q.out_zp = k->out_zp;
    q.act_min = k->act_min;
    q.act_max = k->act_max;
    for (c = 0; c < cg; c += 4) {
        const mve_pred16_t pq = vctp32q((uint32_t)(cg - c));
        for (i = c; i < cg && i < c + 4; ++i) {
            const int8_t *g = k->wg + 16 + 16 * i;
            const int8_t *src = k->d + 4 * i; /* strip a0 / 2 at 64 * (a0 / 2) in a D row */
            const int8x16_t w0 = vldrbq_s8(g), w1 = vldrbq_s8(g - 1), w2 = vldrbq_s8(g - 4), w3 = vldrbq_s8(g - 5);
            int32_t *acc = k->acc + (i - c);
            for (a0 = 0; a0 + 1 < ncc; a0 += 2) {
                if (k->walk_h) {
                    nb_dwm_mac2(src + 32 * a0, offs, k->r2, w0, w1, w2, w3, steps, acc + 4 * a0 * ca, ro2, adv2);
                } else {
                    nb_dwm_mac2(src + 32 * a0, offs, k->r2, w0, w2, w1, w3, steps, acc + 4 * a0 * ca, ro2, adv2);
                }
            }
            if (a0 < ncc) {
                nb_dwm_mac1(src + 32 * a0, offs, k->r2, w0, w2, steps, acc + 4 * a0 * ca, 16 * ra, adv2);
            }
        }
        q.cq = cg - c < 4 ? cg - c : 4;
        q.start = vldrwq_s32(k->start + c);
        q.mult = vldrwq_z_s32(k->mult + c, pq);
        q.shift = vldrwq_z_s32(k->shift + c, pq);
        q.rs = vmaxvq_s32(INT32_MIN, q.shift) < 0; /* (used when cq == 4) */
        if (vmaxvq_s32(INT32_MIN, q.shift) <= 0 && k->act_min >= k->out_zp) {
            q.rs = 2;
        }
        if (k->walk_h && ncc * k->sa_out == k->sr_out) { /* the chunk is contiguous in NHWC */
            nb_dwm_rq4(k->acc, nrc * ncc, C, &q, k->out + c);
        } else {
            /* segments along the stride-C axis: rows of the chunk (walk H) or its columns (walk W) */
            const int32_t nseg = k->walk_h ? nrc : ncc, len = k->walk_h ? ncc : nrc;
            const int32_t aseg = k->walk_h ? ra : ca, oseg = k->walk_h ? k->sr_out : k->sa_out;
            int32_t sgm;
            for (sgm = 0; sgm < nseg; ++sgm) {
                nb_dwm_rq4(k->acc + 4 * sgm * aseg, len, C, &q, k->out + c + sgm * oseg);
            }
        }
    }
}

/* Returns 0 (nothing done) when the scratch cannot hold one row step of D. */
static int nb_dwm_win(const nb_depthwise_conv2d_params_t *p, const int8_t *input, const int8_t *filter,
                      const int32_t *bias, int8_t *output)
{
    const int32_t C = p->in.c, zp = p->input_zero_point;
    const int walk_h = p->out.h >= p->out.w;
    /* row (walk) axis and column axis: extents, padding, NHWC strides of input and output */
    const int32_t nr = walk_h ? p->out.h : p->out.w, na = walk_h ? p->out.w : p->out.h;
    const int32_t in_r = walk_h ? p->in.h : p->in.w, in_a = walk_h ? p->in.w : p->in.h;
    const int32_t pad_r = walk_h ? p->pad_h : p->pad_w, pad_a = walk_h ? p->pad_w : p->pad_h;
    const int32_t sr_in = walk_h ? p->in.w * C : C, sa_in = walk_h ? C : p->in.w * C;
    const int32_t sr_out = walk_h ? p->out.w * C : C, sa_out = walk_h ? C : p->out.w * C;
    const int32_t d_bytes = (int32_t)sizeof(nb_kernel_scratch) - NB_DWM_FIX_BYTES;
    int32_t *start = nb_kernel_scratch;
    int8_t *wg = (int8_t *)(void *)(start + NB_DWM_G); /* 16 zero bytes, then a 4x4 grid per channel */
    int8_t *zpr = wg + 16 + 16 * NB_DWM_G; /* 16 bytes of input zero point */
    int32_t *acc = (int32_t *)(void *)(zpr + 16);
    int8_t *d = (int8_t *)(void *)(acc + NB_DWM_ACC_BYTES / 4);
    const int8x16_t zpv = vdupq_n_s8((int8_t)zp);
    nb_dwm_chunk_t k;
    int32_t c0, b, r0, ac, i, ky, kx;

    if ((int32_t)sizeof(nb_kernel_scratch) < NB_DWM_FIX_BYTES + 4 * 64) {
        return 0; /* (a compile-time constant: the code below is dropped for small scratch buffers) */
    }
    {   /* the widest column chunk must fit one row step */
        const int32_t ncc = na < NB_DWM_MAX_COLS ? na : NB_DWM_MAX_COLS;
        if (d_bytes < 4 * 64 * ((ncc + 1) / 2)) {
            return 0;
        }
    }
    k.d = d;
    k.wg = wg;
    k.start = start;
    k.acc = acc;
    k.walk_h = walk_h;
    k.C = C;
    k.sr_out = sr_out;
    k.sa_out = sa_out;
    k.out_zp = p->output_zero_point;
    k.act_min = p->act_min;
    k.act_max = p->act_max;
    vstrbq_s8(zpr, zpv);
    for (c0 = 0; c0 < C; c0 += NB_DWM_G) {
        const int32_t cg = C - c0 < NB_DWM_G ? C - c0 : NB_DWM_G;
        const mve_pred16_t pc = vctp8q((uint32_t)cg);
        const uint8x16_t goffs = vmulq_n_u8(vidupq_n_u8(0, 1), 16); /* grid of channel i at 16 * i */
        const mve_pred16_t pl = vctp16q((uint32_t)cg), ph = vctp16q((uint32_t)(cg > 8 ? cg - 8 : 0));
        int16x8_t sl = vdupq_n_s16(0), sh = sl; /* sums of <= 9 taps fit int16 */
        int16_t *s16 = (int16_t *)(void *)acc;  /* (acc is free here) */
        for (i = 0; i < 16 + 16 * NB_DWM_G; i += 16) { /* (vector stores: newlib's memset is bytewise) */
            vstrbq_s8(wg + i, vdupq_n_s8(0));
        }
        for (ky = 0; ky < p->filter.h; ++ky) {
            for (kx = 0; kx < p->filter.w; ++kx) {
                const int8_t *f = filter + (ky * p->filter.w + kx) * C + c0;
                vstrbq_scatter_offset_p_s8(wg + 16 + (walk_h ? 4 * ky + kx : 4 * kx + ky), goffs,
                                           vldrbq_z_s8(f, pc), pc);
                sl = vaddq_s16(sl, vldrbq_z_s16(f, pl));
                sh = vaddq_s16(sh, vldrbq_z_s16(f + 8, ph));
            }
        }
        vstrhq_s16(s16, sl);
        vstrhq_s16(s16 + 8, sh);
        /* start = bias - zp * sum(w) (wrapping) */
        for (i = 0; i < NB_DWM_G; i += 4) {
            const int32x4_t t = vmulq_n_s32(vldrhq_s32(s16 + i), -zp);
            vstrwq_s32(start + i, bias != NULL ? vaddq_s32(t, vldrwq_z_s32(bias + c0 + i,
                                                                            vctp32q((uint32_t)(cg > i ? cg - i : 0))))
                                               : t);
        }
        k.cg = cg;
        k.mult = p->out_multiplier + c0;
        k.shift = p->out_shift + c0;
        for (b = 0; b < p->out.n; ++b) {
            const int8_t *in_b = input + b * p->in.h * p->in.w * C + c0;
            for (ac = 0; ac < na; ac += NB_DWM_MAX_COLS) {
                const int32_t ncc = na - ac < NB_DWM_MAX_COLS ? na - ac : NB_DWM_MAX_COLS;
                const int32_t nstr = (ncc + 1) / 2, rs = 64 * nstr;
                int32_t smax = (d_bytes / rs - 2) / 2;
                if (smax > NB_DWM_ACC_BYTES / (32 * ncc)) { /* acc: 2 * smax * ncc positions of 16 bytes */
                    smax = NB_DWM_ACC_BYTES / (32 * ncc);
                }
                k.ncc = ncc;
                k.r2 = 2 * rs;
                for (r0 = 0; r0 < nr; r0 += 2 * smax) {
                    const int32_t nrc = nr - r0 < 2 * smax ? nr - r0 : 2 * smax;
                    const int32_t steps = (nrc + 1) / 2, nt = 2 * steps + 2;
                    int32_t bl;
                    /* D rows: input row r0 + t - pad_r; strip bl: input columns ac - pad_a + 2 * bl + j (outside
                     * the input: the zero-point row zpr with row stride 0; rows outside: zpv) */
                    for (bl = 0; bl < nstr; ++bl) {
                        const int8_t *pk[4];
                        int32_t sk[4], t_lo = pad_r - r0, t_hi = in_r + pad_r - r0, j;
                        t_lo = t_lo < 0 ? 0 : t_lo > nt ? nt : t_lo;
                        t_hi = t_hi > nt ? nt : t_hi < t_lo ? t_lo : t_hi;
                        for (j = 0; j < 4; ++j) {
                            const int32_t col = ac - pad_a + 2 * bl + j;
                            const int inside = col >= 0 && col < in_a;
                            sk[j] = inside ? sr_in : 0;
                            pk[j] = inside ? in_b + col * sa_in + (r0 + t_lo - pad_r) * sr_in : zpr;
                        }
                        nb_dwm_build_d(d + 64 * bl, rs, pk, sk, t_lo, t_hi, nt, zpv, cg);
                    }
                    k.nrc = nrc;
                    k.steps = steps;
                    k.out = output + b * p->out.h * p->out.w * C + c0 + r0 * sr_out + ac * sa_out;
                    nb_dwm_chunk(&k);
                }
            }
        }
    }
    return 1;
}

#endif /* NB_MVE_DW_WINDOW */

#if !NB_MVE_DW_GENERAL
/* the reference loop for the calls path 1 does not take (see nb_dwm_direct) */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void nb_dwm_ref(const nb_depthwise_conv2d_params_t *p, const int8_t *input, const int8_t *filter,
                       const int32_t *bias, int8_t *output)
{
    nb_depthwise_conv2d_ref(p, input, filter, bias, output);
}
#endif

void nb_depthwise_conv2d(const nb_depthwise_conv2d_params_t *p, const int8_t *input, const int8_t *filter,
                         const int32_t *bias, int8_t *output)
{
    const int32_t taps = p->filter.h * p->filter.w;
#if NB_MVE_DW_GENERAL
    const int32_t C = p->in.c;
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
#endif

    if (p->depth_multiplier == 1 && p->out.n * p->out.h * p->out.w <= NB_DWM_DIRECT_MAX_POS &&
        taps <= NB_DWM_DIRECT_MAX_TAPS) {
        nb_dwm_direct(p, input, filter, bias, output);
        return;
    }
#if NB_MVE_DW_WINDOW
    if (p->depth_multiplier == 1 && p->stride_h == 1 && p->stride_w == 1 && p->dilation_h == 1 &&
        p->dilation_w == 1 && p->filter.h <= 3 && p->filter.w <= 3 &&
        nb_dwm_win(p, input, filter, bias, output)) {
        return;
    }
#endif
#if !NB_MVE_DW_GENERAL
    nb_dwm_ref(p, input, filter, bias, output);
#else
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
#endif /* NB_MVE_DW_GENERAL */
}
