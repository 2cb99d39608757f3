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

/* 1 if shift[0..n) are all <= 0 (nb_mve_requant_rs applies). */
static inline int nb_mve_shifts_nonpos(const int32_t *shift, int32_t n)
{
    int32_t c;
    for (c = 0; c < n; ++c) {
        if (shift[c] > 0) {
            return 0;
        }
    }
    return 1;
}

/* out[c] = requant(acc[c]) for c in [0, n); mult/shift per channel (per_channel != 0) or [0] for all;
 * per_channel < 0: per channel and every shift <= 0 (the caller checked, nb_mve_shifts_nonpos). */
static inline void nb_mve_requant_row(const int32_t *acc, int32_t n, const int32_t *mult, const int32_t *shift,
                                      int32_t per_channel, int32_t out_zp, int32_t act_min, int32_t act_max,
                                      int8_t *out)
{
    int32_t c;
    int32x4_t m = vdupq_n_s32(mult[0]), s = vdupq_n_s32(shift[0]);
    if (per_channel < 0) {
        /* caller checked every shift <= 0 (nb_mve_shifts_nonpos): the shorter nb_mve_requant_rs */
        const int32x4_t lo = vdupq_n_s32(act_min), hi = vdupq_n_s32(act_max);
        for (c = 0; c + 4 <= n; c += 4) {
            vstrbq_s32(out + c, nb_mve_requant_rs(vldrwq_s32(acc + c), vldrwq_s32(mult + c), vldrwq_s32(shift + c),
                                                  out_zp, lo, hi));
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

#endif /* NB_MVE_H */
