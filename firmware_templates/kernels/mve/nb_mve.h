/*
 * nb_mve.h - helpers for the Cortex-M55 (Armv8.1-M MVE / Helium) kernel variants.
 *
 * The variants here define the SAME functions and params structs as the portable kernels
 * (nb_conv2d, nb_depthwise_conv2d, nb_fully_connected) and are compiled INSTEAD of them for Cortex-M55
 * (convert/kernel_variants.py). Bit-exact to the portable kernels (and TFLM) for every input.
 * They share the static scratch buffer of nb_dsp.h (nb_kernel_scratch, NB_KERNEL_SCRATCH_BYTES).
 *
 * Requantization of 4 int32 lanes (nb_mve_requant), bit-exact to nb_multiply_by_quantized_multiplier:
 *   VQRDMULH = (2ab + 2^31) >> 32 saturated == gemmlowp SaturatingRoundingDoublingHighMul (its
 *   nudge-and-truncate equals this floor for both signs, and both saturate only INT32_MIN * INT32_MIN);
 *   VRSHL by -e rounds half up; RoundingDivideByPOT rounds half away from zero, so negative lanes are first
 *   lowered by 1 when e > 0 (saturating: INT32_MIN stays, which gives the same result).
 *
 * Dot products: nb_mve_gemm_acc (start values precomputed), nb_mve_gemm_fused (few columns: the input
 * offset term summed in the same pass), and the blocked assembly nb_mve_gemm4x2 / nb_mve_gemm4x2_clamp0
 * over weights packed per call by nb_mve_pack4 (many columns; see there).
 */
#ifndef NB_MVE_H
#define NB_MVE_H

#include <arm_mve.h>
#include "nb_dsp.h"

static inline int32x4_t nb_mve_requant(int32x4_t acc, int32x4_t mult, int32x4_t shift, int32_t out_zp,
                                       int32_t act_min, int32_t act_max)
{
    const int32x4_t zero = vdupq_n_s32(0);
    const int32x4_t ls = vmaxq_s32(shift, zero);
    const int32x4_t rs_neg = vminq_s32(shift, zero);
    int32x4_t x = vqrdmulhq_s32(vshlq_s32(acc, ls), mult);
    const int32x4_t fixup = vshrq_n_s32(vandq_s32(x, rs_neg), 31);
    x = vrshlq_s32(vqaddq_s32(x, fixup), rs_neg);
    x = vaddq_n_s32(x, out_zp);
    x = vmaxq_s32(x, vdupq_n_s32(act_min));
    return vminq_s32(x, vdupq_n_s32(act_max));
}

/* nb_mve_requant for lanes whose shift is <= 0 (no left shift; every real model), clamp bounds as vectors:
 * 8 vector instructions instead of 11. */
static inline int32x4_t nb_mve_requant_rs(int32x4_t acc, int32x4_t mult, int32x4_t shift, int32_t out_zp,
                                          int32x4_t lo, int32x4_t hi)
{
    int32x4_t x = vqrdmulhq_s32(acc, mult);
    const int32x4_t fixup = vshrq_n_s32(vandq_s32(x, shift), 31);
    x = vrshlq_s32(vqaddq_s32(x, fixup), shift);
    x = vaddq_n_s32(x, out_zp);
    return vminq_s32(vmaxq_s32(x, lo), hi);
}

/* 1 if shift[0..n) are all <= 0 (nb_mve_requant_rs applies); VMAXV over 4 shifts per step. */
static inline int nb_mve_shifts_nonpos(const int32_t *shift, int32_t n)
{
    int32_t c, m = INT32_MIN;
    for (c = 0; c + 4 <= n; c += 4) {
        m = vmaxvq_s32(m, vldrwq_s32(shift + c));
    }
    for (; c < n; ++c) {
        m = shift[c] > m ? shift[c] : m;
    }
    return m <= 0;
}

/* out[c] = requant(acc[c]) for c in [0, n); mult/shift per channel (per_channel != 0) or [0] for all;
 * per_channel < 0: per channel and every shift <= 0 (the caller checked, nb_mve_shifts_nonpos); -2: also
 * act_min >= out_zp (relu-type clamp: no round-half-away fixup, as nb_mve_gemm4x2_clamp0). */
static inline void nb_mve_requant_row(const int32_t *acc, int32_t n, const int32_t *mult, const int32_t *shift,
                                      int32_t per_channel, int32_t out_zp, int32_t act_min, int32_t act_max,
                                      int8_t *out)
{
    int32_t c;
    int32x4_t m = vdupq_n_s32(mult[0]), s = vdupq_n_s32(shift[0]);
    if (per_channel < 0) {
        /* caller checked every shift <= 0 (nb_mve_shifts_nonpos): the shorter nb_mve_requant_rs */
        const int32x4_t lo = vdupq_n_s32(act_min), hi = vdupq_n_s32(act_max);
        if (per_channel == -2) {
            for (c = 0; c + 4 <= n; c += 4) {
                const int32x4_t x = vrshlq_s32(vqrdmulhq_s32(vldrwq_s32(acc + c), vldrwq_s32(mult + c)),
                                               vldrwq_s32(shift + c));
                vstrbq_s32(out + c, vminq_s32(vmaxq_s32(vaddq_n_s32(x, out_zp), lo), hi));
            }
        } else {
            for (c = 0; c + 4 <= n; c += 4) {
                vstrbq_s32(out + c, nb_mve_requant_rs(vldrwq_s32(acc + c), vldrwq_s32(mult + c),
                                                      vldrwq_s32(shift + c), out_zp, lo, hi));
            }
        }
        per_channel = 1;
    } else {
        c = 0;
    }
    for (; c + 4 <= n; c += 4) {
        if (per_channel) {
            m = vldrwq_s32(mult + c);
            s = vldrwq_s32(shift + c);
        }
        vstrbq_s32(out + c, nb_mve_requant(vldrwq_s32(acc + c), m, s, out_zp, act_min, act_max));
    }
    if (c < n) {
        const mve_pred16_t p = vctp32q((uint32_t)(n - c));
        if (per_channel) {
            m = vldrwq_z_s32(mult + c, p);
            s = vldrwq_z_s32(shift + c, p);
        }
        vstrbq_p_s32(out + c, nb_mve_requant(vldrwq_z_s32(acc + c, p), m, s, out_zp, act_min, act_max), p);
    }
}

/* Sum of n int8 values. */
static inline int32_t nb_mve_sum_s8(const int8_t *x, int32_t n)
{
    int32_t s = 0, k;
    for (k = 0; k < n; k += 16) {
        s = vaddvaq_s8(s, vldrbq_z_s8(x + k, vctp8q((uint32_t)(n - k))));
    }
    return s;
}

/*
 * acc_a[oc] (and acc_b[oc] when col_b != NULL) = start[oc] + sum_k filter[oc*K + k] * col[k] (int8 x int8,
 * VMLADAVA over 16 lanes; full 16-byte chunks unpredicated, the K % 16 tail with zeroing loads), two
 * filter rows x two columns per loop.
 */
static inline void nb_mve_gemm_acc(const int8_t *col_a, const int8_t *col_b, int32_t K, const int8_t *filter,
                                   const int32_t *start, int32_t n_out, int32_t *acc_a, int32_t *acc_b)
{
    const int32_t k16 = K & ~15;
    const mve_pred16_t pt = vctp8q((uint32_t)(K - k16));
    int32_t oc = 0;
    for (; oc + 1 < n_out; oc += 2) {
        const int8_t *w0 = filter + oc * K;
        const int8_t *w1 = w0 + K;
        int32_t a0 = start[oc], a1 = start[oc + 1];
        int32_t k;
        if (col_b != NULL) {
            int32_t b0 = a0, b1 = a1;
            const int8_t *pa = col_a, *pb = col_b, *p0 = w0, *p1 = w1;
            for (k = 0; k < k16; k += 16) {
                const int8x16_t xa = vldrbq_s8(pa);
                const int8x16_t xb = vldrbq_s8(pb);
                const int8x16_t v0 = vldrbq_s8(p0);
                const int8x16_t v1 = vldrbq_s8(p1);
                pa += 16;
                pb += 16;
                p0 += 16;
                p1 += 16;
                a0 = vmladavaq_s8(a0, xa, v0);
                a1 = vmladavaq_s8(a1, xa, v1);
                b0 = vmladavaq_s8(b0, xb, v0);
                b1 = vmladavaq_s8(b1, xb, v1);
            }
            if (k < K) {
                const int8x16_t xa = vldrbq_z_s8(col_a + k, pt);
                const int8x16_t xb = vldrbq_z_s8(col_b + k, pt);
                const int8x16_t v0 = vldrbq_z_s8(w0 + k, pt);
                const int8x16_t v1 = vldrbq_z_s8(w1 + k, pt);
                a0 = vmladavaq_s8(a0, xa, v0);
                a1 = vmladavaq_s8(a1, xa, v1);
                b0 = vmladavaq_s8(b0, xb, v0);
                b1 = vmladavaq_s8(b1, xb, v1);
            }
            acc_b[oc] = b0;
            acc_b[oc + 1] = b1;
        } else {
            for (k = 0; k < k16; k += 16) {
                const int8x16_t xa = vldrbq_s8(col_a + k);
                a0 = vmladavaq_s8(a0, xa, vldrbq_s8(w0 + k));
                a1 = vmladavaq_s8(a1, xa, vldrbq_s8(w1 + k));
            }
            if (k < K) {
                const int8x16_t xa = vldrbq_z_s8(col_a + k, pt);
                a0 = vmladavaq_s8(a0, xa, vldrbq_z_s8(w0 + k, pt));
                a1 = vmladavaq_s8(a1, xa, vldrbq_z_s8(w1 + k, pt));
            }
        }
        acc_a[oc] = a0;
        acc_a[oc + 1] = a1;
    }
    for (; oc < n_out; ++oc) {
        const int8_t *w0 = filter + oc * K;
        int32_t a0 = start[oc], b0 = start[oc];
        int32_t k;
        for (k = 0; k < K; k += 16) {
            const mve_pred16_t p = vctp8q((uint32_t)(K - k));
            const int8x16_t v0 = vldrbq_z_s8(w0 + k, p);
            a0 = vmladavaq_s8(a0, vldrbq_z_s8(col_a + k, p), v0);
            if (col_b != NULL) {
                b0 = vmladavaq_s8(b0, vldrbq_z_s8(col_b + k, p), v0);
            }
        }
        acc_a[oc] = a0;
        if (col_b != NULL) {
            acc_b[oc] = b0;
        }
    }
}

/*
 * acc_a[oc] (and acc_b[oc] when col_b != NULL) = bias[oc] + sum_k filter[oc*K + k] * (col[k] - input_zp)
 * (int32, wrapping like the reference), for calls with few columns: the input offset term
 * -input_zp * sum_k w[k] is summed (VADDVA) in the same pass as the VMLADAVA dot products, so each weight
 * chunk is loaded once per call (no separate start-value pass). Two filter rows per loop; full 16-byte
 * chunks unpredicated, the K % 16 tail with zeroing loads. bias may be NULL.
 */
static inline void nb_mve_gemm_fused(const int8_t *col_a, const int8_t *col_b, int32_t K, const int8_t *filter,
                                     const int32_t *bias, int32_t input_zp, int32_t n_out, int32_t *acc_a,
                                     int32_t *acc_b)
{
    const int32_t k16 = K & ~15;
    const mve_pred16_t pt = vctp8q((uint32_t)(K - k16));
    const int32_t nzp = -input_zp;
    int32_t oc = 0, k;
    for (; oc + 1 < n_out; oc += 2) {
        const int8_t *w0 = filter + oc * K;
        const int8_t *w1 = w0 + K;
        const int32_t bias0 = bias ? bias[oc] : 0, bias1 = bias ? bias[oc + 1] : 0;
        int32_t a0 = 0, a1 = 0, s0 = 0, s1 = 0;
        if (col_b != NULL) {
            int32_t b0 = 0, b1 = 0;
            for (k = 0; k < k16; k += 16) {
                const int8x16_t xa = vldrbq_s8(col_a + k);
                const int8x16_t xb = vldrbq_s8(col_b + k);
                const int8x16_t v0 = vldrbq_s8(w0 + k);
                const int8x16_t v1 = vldrbq_s8(w1 + k);
                a0 = vmladavaq_s8(a0, xa, v0);
                b0 = vmladavaq_s8(b0, xb, v0);
                s0 = vaddvaq_s8(s0, v0);
                a1 = vmladavaq_s8(a1, xa, v1);
                b1 = vmladavaq_s8(b1, xb, v1);
                s1 = vaddvaq_s8(s1, v1);
            }
            if (k < K) {
                const int8x16_t xa = vldrbq_z_s8(col_a + k, pt);
                const int8x16_t xb = vldrbq_z_s8(col_b + k, pt);
                const int8x16_t v0 = vldrbq_z_s8(w0 + k, pt);
                const int8x16_t v1 = vldrbq_z_s8(w1 + k, pt);
                a0 = vmladavaq_s8(a0, xa, v0);
                b0 = vmladavaq_s8(b0, xb, v0);
                s0 = vaddvaq_s8(s0, v0);
                a1 = vmladavaq_s8(a1, xa, v1);
                b1 = vmladavaq_s8(b1, xb, v1);
                s1 = vaddvaq_s8(s1, v1);
            }
            acc_b[oc] = nb_add_wrap(nb_add_wrap(bias0, b0), nb_mul_wrap(nzp, s0));
            acc_b[oc + 1] = nb_add_wrap(nb_add_wrap(bias1, b1), nb_mul_wrap(nzp, s1));
        } else {
            for (k = 0; k < k16; k += 16) {
                const int8x16_t xa = vldrbq_s8(col_a + k);
                const int8x16_t v0 = vldrbq_s8(w0 + k);
                const int8x16_t v1 = vldrbq_s8(w1 + k);
                a0 = vmladavaq_s8(a0, xa, v0);
                s0 = vaddvaq_s8(s0, v0);
                a1 = vmladavaq_s8(a1, xa, v1);
                s1 = vaddvaq_s8(s1, v1);
            }
            if (k < K) {
                const int8x16_t xa = vldrbq_z_s8(col_a + k, pt);
                const int8x16_t v0 = vldrbq_z_s8(w0 + k, pt);
                const int8x16_t v1 = vldrbq_z_s8(w1 + k, pt);
                a0 = vmladavaq_s8(a0, xa, v0);
                s0 = vaddvaq_s8(s0, v0);
                a1 = vmladavaq_s8(a1, xa, v1);
                s1 = vaddvaq_s8(s1, v1);
            }
        }
        acc_a[oc] = nb_add_wrap(nb_add_wrap(bias0, a0), nb_mul_wrap(nzp, s0));
        acc_a[oc + 1] = nb_add_wrap(nb_add_wrap(bias1, a1), nb_mul_wrap(nzp, s1));
    }
    if (oc < n_out) {
        const int8_t *w0 = filter + oc * K;
        const int32_t bias0 = bias ? bias[oc] : 0;
        int32_t a0 = 0, b0 = 0, s0 = 0;
        for (k = 0; k < K; k += 16) {
            const mve_pred16_t pr = vctp8q((uint32_t)(K - k));
            const int8x16_t v0 = vldrbq_z_s8(w0 + k, pr);
            a0 = vmladavaq_s8(a0, vldrbq_z_s8(col_a + k, pr), v0);
            s0 = vaddvaq_s8(s0, v0);
            if (col_b != NULL) {
                b0 = vmladavaq_s8(b0, vldrbq_z_s8(col_b + k, pr), v0);
            }
        }
        acc_a[oc] = nb_add_wrap(nb_add_wrap(bias0, a0), nb_mul_wrap(nzp, s0));
        if (col_b != NULL) {
            acc_b[oc] = nb_add_wrap(nb_add_wrap(bias0, b0), nb_mul_wrap(nzp, s0));
        }
    }
}

/*
 * Blocked int8 GEMM of 4 output channels x 2 columns with scalar VMLADAV accumulators (assembly).
 *
 * Weights packed per call (nb_mve_pack4): per block of 4 output channels (NB_MVE_PACK4_BLOCK(nch) bytes),
 * for every 16-byte chunk of the K dimension the 4 rows' chunks one after the other (64 bytes; zero past K
 * and past the last channel), then the block info (int32 x 12, read through the weight pointer after the
 * chunks): start[4] (bias - input_zp * sum(w)), mult[4], shift[4] (all <= 0).
 * nb_mve_gemm4x2 runs n_blocks blocks for each of n_pairs column pairs (xa, xb) (each nch * 16 readable
 * bytes): 8 accumulators r0, r2, ..., r14 (VMLADAV needs even registers, so at most 8: a 4x2 block is the
 * largest; LR is one of them, so no LE loop), 6 vector loads per 8 VMLADAV (16 MACs each); the first chunk
 * non-accumulating (the last K chunk, packed first), then a jump (LDR PC, entry computed once per call) into
 * an unrolled run of 7 accumulating chunks so that nch - 1 of them run (nch > 8: a SUBS/BNE chunk loop); x is
 * read at immediate offsets from fixed column pointers (no reset per block). The two 4-lane rows
 * are then built with single-lane VMOVs (d0[0] = r0, ...; the two-lane VMOV's lane order differs between
 * assemblers and QEMU, so it is not used), start added, requantized as nb_mve_requant_rs and stored to
 * out_a + 4 * blk and out_b + 4 * blk (the chunks interleave vector loads with VMLADAV, the requantization
 * its parameter loads with arithmetic: the load / data-processing beat overlap). Every shift must be <= 0.
 */
#define NB_MVE_PACK4_BLOCK(nch) ((nch) * 64 + 48)
typedef struct {
    const int8_t *w;       /* 0: packed weights and info (block after block) */
    const int32_t *unused; /* 4 */
    const int8_t *xa;      /* 8: column a (nch * 16 bytes) */
    const int8_t *xb;      /* 12: column b */
    int8_t *out_a;         /* 16 */
    int8_t *out_b;         /* 20 */
    int32_t n_blocks;      /* 24: >= 1 */
    int32_t nch;           /* 28: chunks of 16 (>= 1) */
    int32_t out_zp;        /* 32 */
    int32_t act_min;       /* 36 */
    int32_t act_max;       /* 40 */
    int32_t n_pairs;       /* 44: >= 1 column pairs, the next at xa / xb + x_step, out_a / out_b + out_step */
    int32_t x_step;        /* 48 */
    int32_t out_step;      /* 52 */
} nb_mve_gemm4x2_args_t;

/* one K chunk: x at r3 / r11 + off (the chunk sequence), or post-incremented (NB_MVE_G42_CHUNK, the loop) */
#define NB_MVE_G42_CHUNK(op)                                                                                   \
    "vldrb.8 q0, [r3], #16\n\t"                                                                                \
    "vldrb.8 q2, [r1], #16\n\t" op " r0, q0, q2\n\t"                                                           \
    "vldrb.8 q1, [r11], #16\n\t" op " r8, q1, q2\n\t"                                                          \
    "vldrb.8 q3, [r1], #16\n\t" op " r2, q0, q3\n\t" op " r10, q1, q3\n\t"                                   \
    "vldrb.8 q2, [r1], #16\n\t" op " r4, q0, q2\n\t" op " r12, q1, q2\n\t"                                   \
    "vldrb.8 q3, [r1], #16\n\t" op " r6, q0, q3\n\t" op " r14, q1, q3\n\t"

#define NB_MVE_G42_CHUNK_AT(op, off)                                                                               \
    "vldrb.8 q0, [r3, #" #off "]\n\t"                                                                              \
    "vldrb.8 q2, [r1], #16\n\t" op " r0, q0, q2\n\t"                                                           \
    "vldrb.8 q1, [r11, #" #off "]\n\t" op " r8, q1, q2\n\t"                                                        \
    "vldrb.8 q3, [r1], #16\n\t" op " r2, q0, q3\n\t" op " r10, q1, q3\n\t"                                   \
    "vldrb.8 q2, [r1], #16\n\t" op " r4, q0, q2\n\t" op " r12, q1, q2\n\t"                                   \
    "vldrb.8 q3, [r1], #16\n\t" op " r6, q0, q3\n\t" op " r14, q1, q3\n\t"

#define NB_MVE_G42_HEAD                                                                                        \
    "push {r4-r11, lr}\n\t"                                                                                    \
    "vpush {d8-d15}\n\t"                                                                                       \
    "sub sp, sp, #56\n\t"                                                                                      \
    /* frame: [sp] xa, [sp+4] xb (first pair), [sp+8] / [sp+16] r11 / r3 during the chunk loop, [sp+20]  \
     * chunk sequence entry (Thumb address), [sp+24] nch - 1, [sp+28] w, [sp+32] 16 * nch - 128, [sp+36]    \
     * pairs left, [sp+40] x_step, [sp+44] out_step - 4 * n_blocks, [sp+48] out_step, [sp+52] r9 during the \
     * chunk loop. Registers: r1 w (after a block's chunks: its info), r3 / r11 xa / xb + 16 * nch - 128   \
     * (the first chunk reads K chunk nch - 1 at offset 112, sequence chunk p = 0 .. 6 K chunk p + nch - 8  \
     * at 16 * p: no pointer reset per block), r7 out_a, r5 out_b, r9 out_a end, even registers the        \
     * accumulators; q4 zp, q6 / q7 the clamp */                                                            \
    "ldr r1, [r0, #0]\n\t"                                                                                     \
    "str r1, [sp, #28]\n\t"                                                                                    \
    "ldr r1, [r0, #44]\n\t"                                                                                    \
    "str r1, [sp, #36]\n\t"                                                                                    \
    "ldr r1, [r0, #48]\n\t"                                                                                    \
    "str r1, [sp, #40]\n\t"                                                                                    \
    "ldr r1, [r0, #52]\n\t"                                                                                    \
    "str r1, [sp, #48]\n\t"                                                                                    \
    "ldr r2, [r0, #24]\n\t"                                                                                    \
    "sub r1, r1, r2, lsl #2\n\t"                                                                               \
    "str r1, [sp, #44]\n\t"                                                                                    \
    "ldr r1, [r0, #8]\n\t"                                                                                     \
    "str r1, [sp, #0]\n\t"                                                                                     \
    "ldr r1, [r0, #12]\n\t"                                                                                    \
    "str r1, [sp, #4]\n\t"                                                                                     \
    "ldr r7, [r0, #16]\n\t"                                                                                    \
    "ldr r5, [r0, #20]\n\t"                                                                                    \
    "ldr r1, [r0, #32]\n\t"                                                                                    \
    "str r1, [sp, #12]\n\t"                                                                                    \
    "ldr r1, [r0, #24]\n\t"                                                                                    \
    "add r9, r7, r1, lsl #2\n\t"                                                                               \
    /* nch <= 8: enter the unrolled run of 7 accumulating chunks at chunk 8 - nch; else the loop */         \
    "ldr r1, [r0, #28]\n\t"                                                                                    \
    "lsls r2, r1, #4\n\t"                                                                                      \
    "subs r2, r2, #128\n\t"                                                                                    \
    "str r2, [sp, #32]\n\t"                                                                                    \
    "subs r2, r1, #1\n\t"                                                                                      \
    "str r2, [sp, #24]\n\t"                                                                                    \
    "cmp r1, #8\n\t"                                                                                           \
    "bgt 7f\n\t"                                                                                               \
    "adr r2, 5f\n\t"                                                                                           \
    "rsb r1, r1, #8\n\t"                                                                                       \
    "movs r3, #56\n\t"                                                                                         \
    "mla r2, r1, r3, r2\n\t"                                                                                   \
    "b 8f\n\t"                                                                                                 \
    "7:\n\t"                                                                                                   \
    "adr r2, 6f\n\t"                                                                                           \
    "8:\n\t"                                                                                                   \
    "adds r2, r2, #1\n\t"                                                                                      \
    "str r2, [sp, #20]\n\t"                                                                                    \
    "ldr r1, [r0, #36]\n\t"                                                                                    \
    "vdup.32 q6, r1\n\t"                                                                                       \
    "ldr r1, [r0, #40]\n\t"                                                                                    \
    "vdup.32 q7, r1\n\t"                                                                                       \
    "ldr r1, [r0, #32]\n\t"                                                                                    \
    "vdup.32 q4, r1\n\t"                                                                                       \
    "4:\n\t"                                                                                                   \
    "ldr r1, [sp, #28]\n\t"                                                                                    \
    "ldr r2, [sp, #32]\n\t"                                                                                    \
    "ldr r3, [sp, #0]\n\t"                                                                                     \
    "ldr r11, [sp, #4]\n\t"                                                                                    \
    "add r3, r3, r2\n\t"                                                                                       \
    "add r11, r11, r2\n\t"                                                                                     \
    "b 1f\n\t"                                                                                                 \
    ".balign 4\n\t"                                                                                            \
    "5:\n\t"                                                                                                   \
    NB_MVE_G42_CHUNK_AT("vmladava.s8", 0)                                                                      \
    NB_MVE_G42_CHUNK_AT("vmladava.s8", 16)                                                                     \
    NB_MVE_G42_CHUNK_AT("vmladava.s8", 32)                                                                     \
    NB_MVE_G42_CHUNK_AT("vmladava.s8", 48)                                                                     \
    NB_MVE_G42_CHUNK_AT("vmladava.s8", 64)                                                                     \
    NB_MVE_G42_CHUNK_AT("vmladava.s8", 80)                                                                     \
    NB_MVE_G42_CHUNK_AT("vmladava.s8", 96)                                                                     \
    "3:\n\t"                                                                                                   \
    "vmov.32 d0[0], r0\n\t"                                                                                    \
    "vmov.32 d0[1], r2\n\t"                                                                                    \
    "vmov.32 d1[0], r4\n\t"                                                                                    \
    "vmov.32 d1[1], r6\n\t"                                                                                    \
    "vmov.32 d2[0], r8\n\t"                                                                                    \
    "vmov.32 d2[1], r10\n\t"                                                                                   \
    "vmov.32 d3[0], r12\n\t"                                                                                   \
    "vmov.32 d3[1], r14\n\t"                                                                                   \
    "vldrw.32 q2, [r1], #16\n\t"                                                                               \
    "vadd.i32 q0, q0, q2\n\t"                                                                                  \
    "vldrw.32 q3, [r1], #16\n\t"                                                                               \
    "vadd.i32 q1, q1, q2\n\t"                                                                                  \
    "vldrw.32 q5, [r1], #16\n\t"                                                                               \
    "vqrdmulh.s32 q0, q0, q3\n\t"                                                                              \
    "vqrdmulh.s32 q1, q1, q3\n\t"

#define NB_MVE_G42_FIXUP \
    "vand q2, q0, q5\n\t" \
    "vand q3, q1, q5\n\t" \
    "vshr.s32 q2, q2, #31\n\t" \
    "vshr.s32 q3, q3, #31\n\t" \
    "vqadd.s32 q0, q0, q2\n\t" \
    "vqadd.s32 q1, q1, q3\n\t"

#define NB_MVE_G42_TAIL                                                                                        \
    "vrshl.s32 q0, q0, q5\n\t"                                                                                 \
    "vrshl.s32 q1, q1, q5\n\t"                                                                                 \
    "vadd.i32 q0, q0, q4\n\t"                                                                                  \
    "vadd.i32 q1, q1, q4\n\t"                                                                                  \
    "vmax.s32 q0, q0, q6\n\t"                                                                                  \
    "vmax.s32 q1, q1, q6\n\t"                                                                                  \
    "vmin.s32 q1, q1, q7\n\t"                                                                                  \
    "vstrb.32 q1, [r5], #4\n\t"                                                                                \
    "vmin.s32 q0, q0, q7\n\t"                                                                                  \
    "vstrb.32 q0, [r7], #4\n\t"                                                                                \
    "cmp r7, r9\n\t"                                                                                           \
    "beq 10f\n\t"                                                                                              \
    /* block start (laid out after the requantization: no taken branch between blocks but the LDR PC) */    \
    "1:\n\t"                                                                                                   \
    NB_MVE_G42_CHUNK_AT("vmladav.s8", 112)                                                                             \
    "ldr pc, [sp, #20]\n\t"                                                                                    \
    /* next column pair */                                                                                     \
    "10:\n\t"                                                                                                  \
    "ldr r2, [sp, #36]\n\t"                                                                                    \
    "subs r2, r2, #1\n\t"                                                                                      \
    "beq 2f\n\t"                                                                                               \
    "str r2, [sp, #36]\n\t"                                                                                    \
    "ldr r2, [sp, #40]\n\t"                                                                                    \
    "add r3, r3, r2\n\t"                                                                                       \
    "add r11, r11, r2\n\t"                                                                                     \
    "ldr r2, [sp, #44]\n\t"                                                                                    \
    "ldr r1, [sp, #48]\n\t"                                                                                    \
    "add r7, r7, r2\n\t"                                                                                       \
    "add r5, r5, r2\n\t"                                                                                       \
    "add r9, r9, r1\n\t"                                                                                       \
    "ldr r1, [sp, #28]\n\t"                                                                                    \
    "b 1b\n\t"                                                                                                 \
    "2:\n\t"                                                                                                   \
    "add sp, sp, #56\n\t"                                                                                      \
    "vpop {d8-d15}\n\t"                                                                                        \
    "pop {r4-r11, pc}\n\t"                                                                                     \
    /* nch > 8: the chunk loop */                                                                              \
    "6:\n\t"                                                                                                   \
    "str r9, [sp, #52]\n\t"                                                                                    \
    "str r3, [sp, #16]\n\t"                                                                                    \
    "str r11, [sp, #8]\n\t"                                                                                    \
    "ldr r9, [sp, #32]\n\t"                                                                                    \
    "sub r3, r3, r9\n\t"                                                                                       \
    "sub r11, r11, r9\n\t"                                                                                     \
    "ldr r9, [sp, #24]\n\t"                                                                                    \
    "9:\n\t"                                                                                                   \
    NB_MVE_G42_CHUNK("vmladava.s8")                                                                            \
    "subs r9, r9, #1\n\t"                                                                                      \
    "bne 9b\n\t"                                                                                               \
    "ldr r3, [sp, #16]\n\t"                                                                                    \
    "ldr r11, [sp, #8]\n\t"                                                                                    \
    "ldr r9, [sp, #52]\n\t"                                                                                    \
    "b 3b\n\t"

/* requantization as nb_mve_requant_rs (every shift <= 0) */
__attribute__((naked, noipa, unused)) static void nb_mve_gemm4x2(const nb_mve_gemm4x2_args_t *a)
{
    (void)a;
    __asm__ volatile(NB_MVE_G42_HEAD NB_MVE_G42_FIXUP NB_MVE_G42_TAIL);
}

/* the same without the round-half-away fixup of negative products: only when act_min >= out_zp (relu-type
 * clamps), where every product < 0 ends at act_min with or without it (its rounded value is <= 0) */
__attribute__((naked, noipa, unused)) static void nb_mve_gemm4x2_clamp0(const nb_mve_gemm4x2_args_t *a)
{
    (void)a;
    __asm__ volatile(NB_MVE_G42_HEAD NB_MVE_G42_TAIL);
}

/*
 * Packs filter rows [0, n_out) (row length K, OHWI / [out, in]) for nb_mve_gemm4x2 into wp (ceil4(n_out) / 4
 * blocks of NB_MVE_PACK4_BLOCK(ceil16(K) / 16) bytes, 4-byte aligned): the weight chunks, then the info (12
 * int32): start = bias - input_zp * sum(w), mult / shift per channel (per_channel == 0: [0] for all).
 * Padded lanes: zero.
 */
static inline void nb_mve_pack4(const int8_t *filter, int32_t K, int32_t n_out, const int32_t *bias,
                                int32_t input_zp, const int32_t *mult, const int32_t *shift, int32_t per_channel,
                                int8_t *wp)
{
    const int32_t nch = (K + 15) >> 4, bs = NB_MVE_PACK4_BLOCK(nch);
    int32_t blk, r, j;
    /* full blocks: the 4 rows in one loop (their chunks are stored next to each other) */
    for (blk = 0; blk < n_out >> 2; ++blk) {
        int32_t *inf = (int32_t *)(void *)(wp + blk * bs + nch * 64);
        const int8_t *s0 = filter + 4 * blk * K;
        int8_t *const base = wp + blk * bs, *dst;
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (j = 0; j < K >> 4; ++j) {
            const int8x16_t v0 = vldrbq_s8(s0 + 16 * j);
            const int8x16_t v1 = vldrbq_s8(s0 + K + 16 * j);
            const int8x16_t v2 = vldrbq_s8(s0 + 2 * K + 16 * j);
            const int8x16_t v3 = vldrbq_s8(s0 + 3 * K + 16 * j);
            dst = base + (j + 1 == nch ? 0 : 64 * (j + 1)); /* K chunk nch - 1 first, then 0 .. nch - 2 */
            vstrbq_s8(dst, v0);
            vstrbq_s8(dst + 16, v1);
            vstrbq_s8(dst + 32, v2);
            vstrbq_s8(dst + 48, v3);
            a0 = vaddvaq_s8(a0, v0);
            a1 = vaddvaq_s8(a1, v1);
            a2 = vaddvaq_s8(a2, v2);
            a3 = vaddvaq_s8(a3, v3);
        }
        if (j < nch) {
            const mve_pred16_t pt = vctp8q((uint32_t)(K - 16 * j));
            const int8x16_t v0 = vldrbq_z_s8(s0 + 16 * j, pt);
            const int8x16_t v1 = vldrbq_z_s8(s0 + K + 16 * j, pt);
            const int8x16_t v2 = vldrbq_z_s8(s0 + 2 * K + 16 * j, pt);
            const int8x16_t v3 = vldrbq_z_s8(s0 + 3 * K + 16 * j, pt);
            vstrbq_s8(base, v0); /* (chunk nch - 1) */
            vstrbq_s8(base + 16, v1);
            vstrbq_s8(base + 32, v2);
            vstrbq_s8(base + 48, v3);
            a0 = vaddvaq_s8(a0, v0);
            a1 = vaddvaq_s8(a1, v1);
            a2 = vaddvaq_s8(a2, v2);
            a3 = vaddvaq_s8(a3, v3);
        }
        {   /* start = bias - input_zp * sum(w) (VMUL / VADD wrap like nb_mul_wrap / nb_add_wrap) */
            int32x4_t st = vsetq_lane_s32(a3, vsetq_lane_s32(a2, vsetq_lane_s32(a1, vdupq_n_s32(a0), 1), 2), 3);
            st = vmulq_n_s32(st, -input_zp);
            if (bias) {
                st = vaddq_s32(st, vldrwq_s32(bias + 4 * blk));
            }
            vstrwq_s32(inf, st);
        }
        if (per_channel) {
            vstrwq_s32(inf + 4, vldrwq_s32(mult + 4 * blk));
            vstrwq_s32(inf + 8, vldrwq_s32(shift + 4 * blk));
        } else {
            vstrwq_s32(inf + 4, vdupq_n_s32(mult[0]));
            vstrwq_s32(inf + 8, vdupq_n_s32(shift[0]));
        }
    }
    /* the channel tail block (1..3 rows, zero rows after them) */
    for (; blk < (n_out + 3) >> 2; ++blk) {
        int32_t *inf = (int32_t *)(void *)(wp + blk * bs + nch * 64);
        int8_t *dst = wp + blk * bs;
        for (r = 0; r < 4; ++r) {
            const int32_t oc = 4 * blk + r;
            if (oc < n_out) {
                const int8_t *src = filter + oc * K;
                const int32_t q = per_channel ? oc : 0;
                int32_t s = 0;
                for (j = 0; j < K >> 4; ++j) {
                    const int8x16_t v = vldrbq_s8(src + 16 * j);
                    vstrbq_s8(dst + (j + 1 == nch ? 0 : 64 * (j + 1)) + 16 * r, v);
                    s = vaddvaq_s8(s, v);
                }
                if (j < nch) {
                    const int8x16_t v = vldrbq_z_s8(src + 16 * j, vctp8q((uint32_t)(K - 16 * j)));
                    vstrbq_s8(dst + (j + 1 == nch ? 0 : 64 * (j + 1)) + 16 * r, v);
                    s = vaddvaq_s8(s, v);
                }
                inf[r] = nb_add_wrap(bias ? bias[oc] : 0, nb_mul_wrap(-input_zp, s));
                inf[4 + r] = mult[q];
                inf[8 + r] = shift[q];
            } else {
                for (j = 0; j < nch; ++j) {
                    vstrbq_s8(dst + (j + 1 == nch ? 0 : 64 * (j + 1)) + 16 * r, vdupq_n_s8(0));
                }
                inf[r] = 0;
                inf[4 + r] = 0;
                inf[8 + r] = 0;
            }
        }
    }
}

#endif /* NB_MVE_H */
