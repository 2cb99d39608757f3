/*
 * nb_dsp_gemm.h - the int8 x int16 matrix kernel shared by the DSP CONV_2D and FULLY_CONNECTED variants.
 *
 * A "column" holds the K input values of one output position (im2col), already offset by the input zero
 * point and widened to int16, in SXTB16 order: each full group of 4 values x0..x3 is stored as
 * (x0, x2, x1, x3) so that SMLAD with SXTB16(w) = (w0, w2) and SXTB16(ROR(w, 8)) = (w1, w3) multiplies
 * matching elements; the K % 4 tail is stored in order. Each filter row is K int8 values (the default
 * OHWI / [out, in] layout, no reordering). Two columns x two filter rows per inner loop: per 4 depth
 * values 2 filter loads + 4 SXTB16 + 4 column loads + 8 SMLAD for 16 MACs.
 */
#ifndef NB_DSP_GEMM_H
#define NB_DSP_GEMM_H

#include "nb_dsp.h"

#if NB_DSP_NATIVE && defined(__thumb2__)
#define NB_DSP_DOT2X2_ASM 1
/* Assembly 2x2 loop (nb_kernel_scratch.c): acc = {a0, a1, b0, b1} += rows w0/w1 . interleaved columns. */
void nb_dsp_dot2x2(const int32_t *cab, const int8_t *w0, const int8_t *w1, int32_t groups, int32_t *acc);
/* Assembly one-column loop over npairs row pairs (nb_kernel_scratch.c): acc[2i + r] += row (2i + r) . col,
 * rows K int8 apart from w, groups >= 1 groups of 4. */
void nb_dsp_dot2x1_rows(const int32_t *col, const int8_t *w, int32_t K, int32_t groups, int32_t *acc,
                        int32_t npairs);
#else
#define NB_DSP_DOT2X2_ASM 0
#endif

/* Row pairs per nb_dsp_dot2x1_rows call (accumulators on the stack). */
#define NB_DSP_ROWS_CHUNK 32

/* Widen n int8 values (n % 4 == 0) to int16 + offset, SXTB16 order, into dst (n int16). */
static inline void nb_dsp_widen_reordered(const int8_t *src, int32_t n, int32_t offset, int16_t *dst)
{
    const int32_t off2 = (int32_t)(((uint32_t)(uint16_t)offset) | ((uint32_t)(uint16_t)offset << 16));
    int32_t *d = (int32_t *)(void *)dst;
    int32_t i;
    for (i = 0; i < n; i += 4) {
        const uint32_t v = nb_read_u32(src + i);
        d[0] = nb_sadd16(nb_sxtb16(v), off2);
        d[1] = nb_sadd16(nb_sxtb16_ror8(v), off2);
        d += 2;
    }
}

/* Slot of element k of a K-column (groups of 4 reordered, tail in order). */
static inline int32_t nb_dsp_slot(int32_t k, int32_t k4)
{
    static const uint8_t perm[4] = {0, 2, 1, 3};
    return k < k4 ? ((k & ~3) | perm[k & 3]) : k;
}

/*
 * out_a[oc] (and out_b[oc] when col_b != NULL) for oc in [0, n_out):
 * requant(bias[oc] + sum_k filter[oc*K + k] * col[k]). rq_per_channel == 0: mult[0]/shift[0] for all.
 */
static inline void nb_dsp_gemm(const int16_t *col_a, const int16_t *col_b, int32_t *col_ab, int32_t K,
                               const int8_t *filter,
                               const int32_t *bias, int32_t n_out, const int32_t *mult, const int32_t *shift,
                               int32_t rq_per_channel, int32_t out_zp, int32_t act_min, int32_t act_max,
                               int8_t *out_a, int8_t *out_b)
{
    const int32_t k4 = K & ~3;
    int32_t oc = 0, q;
    if (col_b != NULL) {
        /* interleave the two columns per group of 4: (a02, a13, b02, b13), one pointer in the inner loop */
        const int32_t *ca = (const int32_t *)(const void *)col_a;
        const int32_t *cb = (const int32_t *)(const void *)col_b;
        int32_t g;
        for (g = 0; g < k4 / 4; ++g) {
            col_ab[4 * g] = ca[2 * g];
            col_ab[4 * g + 1] = ca[2 * g + 1];
            col_ab[4 * g + 2] = cb[2 * g];
            col_ab[4 * g + 3] = cb[2 * g + 1];
        }
    }
#if NB_DSP_DOT2X2_ASM
    if (col_b == NULL && k4 > 0) {
        /* one column: all row pairs of a chunk in one assembly call, then tails and requantization */
        const int32_t *ca = (const int32_t *)(const void *)col_a;
        while (oc + 1 < n_out) {
            int32_t acc[2 * NB_DSP_ROWS_CHUNK];
            const int32_t np = (n_out - oc) / 2 < NB_DSP_ROWS_CHUNK ? (n_out - oc) / 2 : NB_DSP_ROWS_CHUNK;
            int32_t i, k;
            for (i = 0; i < 2 * np; ++i) {
                acc[i] = bias ? bias[oc + i] : 0;
            }
            nb_dsp_dot2x1_rows(ca, filter + oc * K, K, k4 / 4, acc, np);
            for (i = 0; i < 2 * np; ++i) {
                const int8_t *w = filter + (oc + i) * K;
                int32_t a = acc[i];
                for (k = k4; k < K; ++k) {
                    a = nb_add_wrap(a, w[k] * col_a[k]);
                }
                q = rq_per_channel ? oc + i : 0;
                out_a[oc + i] = (int8_t)nb_rq(a, mult[q], shift[q], out_zp, act_min, act_max);
            }
            oc += 2 * np;
        }
    }
#endif
    for (; oc + 1 < n_out; oc += 2) {
        const int8_t *w0 = filter + oc * K;
        const int8_t *w1 = w0 + K;
        int32_t a0 = bias ? bias[oc] : 0;
        int32_t a1 = bias ? bias[oc + 1] : 0;
        int32_t b0 = a0, b1 = a1;
        const int32_t *ca = (const int32_t *)(const void *)col_a;
        int32_t k;
        if (col_b != NULL && NB_DSP_DOT2X2_ASM && k4 > 0) {
#if NB_DSP_DOT2X2_ASM
            int32_t acc[4];
            acc[0] = a0;
            acc[1] = a1;
            acc[2] = b0;
            acc[3] = b1;
            nb_dsp_dot2x2(col_ab, w0, w1, k4 / 4, acc);
            a0 = acc[0];
            a1 = acc[1];
            b0 = acc[2];
            b1 = acc[3];
#endif
            for (k = k4; k < K; ++k) {
                a0 = nb_add_wrap(a0, w0[k] * col_a[k]);
                a1 = nb_add_wrap(a1, w1[k] * col_a[k]);
                b0 = nb_add_wrap(b0, w0[k] * col_b[k]);
                b1 = nb_add_wrap(b1, w1[k] * col_b[k]);
            }
        } else if (col_b != NULL) {
            const int32_t *cab = col_ab;
            const int32_t *const cab_end = col_ab + 2 * k4 / 2;
            const int8_t *pw = w0;
            for (; cab != cab_end; cab += 4) {
                const uint32_t wa = nb_read_u32(pw);
                const uint32_t wb = nb_read_u32(pw + K);
                const int32_t wa02 = nb_sxtb16(wa), wa13 = nb_sxtb16_ror8(wa);
                const int32_t wb02 = nb_sxtb16(wb), wb13 = nb_sxtb16_ror8(wb);
                const int32_t xa02 = cab[0], xa13 = cab[1];
                const int32_t xb02 = cab[2], xb13 = cab[3];
                pw += 4;
                a0 = nb_smlad(wa02, xa02, a0);
                a0 = nb_smlad(wa13, xa13, a0);
                a1 = nb_smlad(wb02, xa02, a1);
                a1 = nb_smlad(wb13, xa13, a1);
                b0 = nb_smlad(wa02, xb02, b0);
                b0 = nb_smlad(wa13, xb13, b0);
                b1 = nb_smlad(wb02, xb02, b1);
                b1 = nb_smlad(wb13, xb13, b1);
            }
            for (k = k4; k < K; ++k) {
                a0 = nb_add_wrap(a0, w0[k] * col_a[k]);
                a1 = nb_add_wrap(a1, w1[k] * col_a[k]);
                b0 = nb_add_wrap(b0, w0[k] * col_b[k]);
                b1 = nb_add_wrap(b1, w1[k] * col_b[k]);
            }
        } else {
            for (k = 0; k < k4; k += 4) {
                const uint32_t wa = nb_read_u32(w0 + k);
                const uint32_t wb = nb_read_u32(w1 + k);
                const int32_t xa02 = ca[0], xa13 = ca[1];
                ca += 2;
                a0 = nb_smlad(nb_sxtb16(wa), xa02, a0);
                a0 = nb_smlad(nb_sxtb16_ror8(wa), xa13, a0);
                a1 = nb_smlad(nb_sxtb16(wb), xa02, a1);
                a1 = nb_smlad(nb_sxtb16_ror8(wb), xa13, a1);
            }
            for (; k < K; ++k) {
                a0 = nb_add_wrap(a0, w0[k] * col_a[k]);
                a1 = nb_add_wrap(a1, w1[k] * col_a[k]);
            }
        }
        q = rq_per_channel ? oc : 0;
        out_a[oc] = (int8_t)nb_rq(a0, mult[q], shift[q], out_zp, act_min, act_max);
        if (col_b != NULL) {
            out_b[oc] = (int8_t)nb_rq(b0, mult[q], shift[q], out_zp, act_min, act_max);
        }
        q = rq_per_channel ? oc + 1 : 0;
        out_a[oc + 1] = (int8_t)nb_rq(a1, mult[q], shift[q], out_zp, act_min, act_max);
        if (col_b != NULL) {
            out_b[oc + 1] = (int8_t)nb_rq(b1, mult[q], shift[q], out_zp, act_min, act_max);
        }
    }
    for (; oc < n_out; ++oc) {
        const int8_t *w0 = filter + oc * K;
        int32_t a0 = bias ? bias[oc] : 0;
        int32_t b0 = a0;
        const int32_t *ca = (const int32_t *)(const void *)col_a;
        const int32_t *cb = (const int32_t *)(const void *)col_b;
        int32_t k;
        for (k = 0; k < k4; k += 4) {
            const uint32_t wa = nb_read_u32(w0 + k);
            const int32_t wa02 = nb_sxtb16(wa), wa13 = nb_sxtb16_ror8(wa);
            a0 = nb_smlad(wa02, ca[0], a0);
            a0 = nb_smlad(wa13, ca[1], a0);
            ca += 2;
            if (col_b != NULL) {
                b0 = nb_smlad(wa02, cb[0], b0);
                b0 = nb_smlad(wa13, cb[1], b0);
                cb += 2;
            }
        }
        for (; k < K; ++k) {
            a0 = nb_add_wrap(a0, w0[k] * col_a[k]);
            if (col_b != NULL) {
                b0 = nb_add_wrap(b0, w0[k] * col_b[k]);
            }
        }
        q = rq_per_channel ? oc : 0;
        out_a[oc] = (int8_t)nb_rq(a0, mult[q], shift[q], out_zp, act_min, act_max);
        if (col_b != NULL) {
            out_b[oc] = (int8_t)nb_rq(b0, mult[q], shift[q], out_zp, act_min, act_max);
        }
    }
}

/*
 * Blocked GEMM with int16 weights (CONV_2D with several output positions per call): 4 output channels x
 * 2 output positions per inner loop, 17 cycles per 16 MACs on the Cortex-M4 table (LDM of the two column
 * words, two LDM of two weight words, 8 SMLAD), no SXTB16 in the loop. The filter is widened once per call
 * (nb_dsp_w16_expand) into blocks of 4 rows; K is padded with zero weights to Kp = ceil8(K).
 *   w16 (int32 words): block ob = rows 4ob..4ob+3: for each slot pair j in [0, Kp/2): the 4 rows' words
 *        (slots 2j, 2j+1), rows >= n_out all zero. Slots: SXTB16 order (nb_dsp_slot), like the columns.
 *   col2 (int32 words): for each slot pair j: column a's word, column b's word.
 */
#if NB_DSP_NATIVE && defined(__thumb2__)
#define NB_DSP_DOT4X2_ASM 1
/* Assembly loop (nb_kernel_scratch.c): acc[2r + p] += row r . column p, iters = Kp / 8 >= 1. */
void nb_dsp_dot4x2(const int32_t *col2, const int32_t *w16, int32_t iters, int32_t *acc);
/* nblocks >= 1 consecutive blocks, accumulators started from bias: acc[8b + 2r + p] (nb_kernel_scratch.c). */
void nb_dsp_dot4x2_blocks(const int32_t *col2, const int32_t *w16, int32_t iters, int32_t *acc,
                          const int32_t *bias, int32_t nblocks);
#else
#define NB_DSP_DOT4X2_ASM 0
#endif

static inline int32_t nb_dsp_kp(int32_t K) { return (K + 7) & ~7; }

/* Scratch words of the widened filter. */
static inline int32_t nb_dsp_w16_words(int32_t K, int32_t n_out) { return ((n_out + 3) & ~3) * nb_dsp_kp(K) / 2; }

static inline void nb_dsp_w16_expand(const int8_t *filter, int32_t K, int32_t n_out, int32_t *w16)
{
    const int32_t kp = nb_dsp_kp(K), k4 = K & ~3, n4 = (n_out + 3) & ~3;
    int32_t oc, j;
    for (oc = 0; oc < n4; ++oc) {
        int32_t *dst = w16 + (oc >> 2) * (2 * kp) + (oc & 3);
        const int8_t *row = filter + oc * K;
        int16_t tail[8];
        j = 0;
        if (oc < n_out) {
            for (; 2 * j < k4; j += 2) {
                const uint32_t v = nb_read_u32(row + 2 * j);
                dst[4 * j] = nb_sxtb16(v);
                dst[4 * j + 4] = nb_sxtb16_ror8(v);
            }
        }
        for (; 2 * j < kp; ++j) {
            int32_t h;
            for (h = 0; h < 2; ++h) {
                const int32_t k = 2 * j + h;
                tail[h] = (int16_t)(oc < n_out && k < K ? row[k] : 0);
            }
            dst[4 * j] = (int32_t)(((uint32_t)(uint16_t)tail[0]) | ((uint32_t)(uint16_t)tail[1] << 16));
        }
    }
}

/* Interleave two int16 columns (Kp slots each) into col2. */
static inline void nb_dsp_interleave2(const int16_t *col_a, const int16_t *col_b, int32_t kp, int32_t *col2)
{
    const int32_t *ca = (const int32_t *)(const void *)col_a;
    const int32_t *cb = (const int32_t *)(const void *)col_b;
    int32_t j;
    for (j = 0; j < kp / 2; ++j) {
        col2[2 * j] = ca[j];
        col2[2 * j + 1] = cb[j];
    }
}

static inline void nb_dsp_dot4x2_c(const int32_t *col2, const int32_t *w16, int32_t iters, int32_t *acc)
{
    int32_t j, r;
    for (j = 0; j < 4 * iters; ++j) {
        for (r = 0; r < 4; ++r) {
            acc[2 * r] = nb_smlad(w16[r], col2[0], acc[2 * r]);
            acc[2 * r + 1] = nb_smlad(w16[r], col2[1], acc[2 * r + 1]);
        }
        col2 += 2;
        w16 += 4;
    }
}

#if !NB_DSP_DOT4X2_ASM
static inline void nb_dsp_dot4x2_blocks(const int32_t *col2, const int32_t *w16, int32_t iters, int32_t *acc,
                                        const int32_t *bias, int32_t nblocks)
{
    int32_t b, r;
    for (b = 0; b < nblocks; ++b) {
        for (r = 0; r < 4; ++r) {
            acc[8 * b + 2 * r] = acc[8 * b + 2 * r + 1] = bias[4 * b + r];
        }
        nb_dsp_dot4x2_c(col2, w16 + b * 16 * iters, iters, acc + 8 * b);
    }
}
#endif

/* Blocks per nb_dsp_dot4x2_blocks call (accumulators of a chunk on the stack: 32 bytes per block). */
#define NB_DSP_CHUNK_BLOCKS 8

/* nb_rq_tab for the full int8 output range (SSAT). */
static inline int32_t nb_rq_tab_ssat(int32_t acc, const nb_rq_ch_t *t)
{
    const int64_t c = (int64_t)(((uint64_t)(uint32_t)t->hi << 32) | t->lo) - ((int64_t)(acc < 0) << 31);
    return nb_ssat8((int32_t)((c + (int64_t)acc * t->m) >> 32) >> t->es);
}

/* out_a[oc] / out_b[oc] (out_b NULL: one column) = requant(bias[oc] + row oc . column). rq: the per-channel
 * table of nb_rq_prepare (rq_ok) or NULL / !rq_ok: nb_rq with mult/shift. */
static inline void nb_dsp_gemm_w16(const int32_t *col2, const int32_t *w16, int32_t K, const int32_t *bias,
                                   int32_t n_out, const nb_rq_ch_t *rq, int rq_ok, const int32_t *mult,
                                   const int32_t *shift, int32_t out_zp, int32_t act_min, int32_t act_max,
                                   int8_t *out_a, int8_t *out_b)
{
    const int32_t kp = nb_dsp_kp(K);
    const int32_t nfull = (bias != NULL && rq_ok) ? n_out >> 2 : 0;
    int32_t ob = 0, r;
    /* full blocks with bias and table requantization: all accumulators of up to NB_DSP_CHUNK_BLOCKS blocks in
     * one assembly call, then one requantization loop (table entry loaded once per channel) */
    while (ob < 4 * nfull) {
        int32_t acc[8 * NB_DSP_CHUNK_BLOCKS];
        const int32_t nb = nfull - ob / 4 < NB_DSP_CHUNK_BLOCKS ? nfull - ob / 4 : NB_DSP_CHUNK_BLOCKS;
        const nb_rq_ch_t *t = rq + ob;
        const int32_t *pa = acc;
        int8_t *oa = out_a + ob, *const oa_end = out_a + ob + 4 * nb;
        nb_dsp_dot4x2_blocks(col2, w16 + ob * (kp / 2), kp / 8, acc, bias + ob, nb);
        if (act_min == NB_INT8_MIN && act_max == NB_INT8_MAX && out_b != NULL) {
            int8_t *ob_p = out_b + ob;
            for (; oa != oa_end; ++t, pa += 2) {
                const int32_t m = t->m, es = t->es;
                const int64_t c0 = (int64_t)(((uint64_t)(uint32_t)t->hi << 32) | t->lo);
                const int32_t a = pa[0], bb = pa[1];
                const int32_t ya = (int32_t)((c0 - ((int64_t)(a < 0) << 31) + (int64_t)a * m) >> 32);
                const int32_t yb = (int32_t)((c0 - ((int64_t)(bb < 0) << 31) + (int64_t)bb * m) >> 32);
                *oa++ = (int8_t)nb_ssat8(ya >> es);
                *ob_p++ = (int8_t)nb_ssat8(yb >> es);
            }
        } else {
            for (r = 0; r < 4 * nb; ++r) {
                out_a[ob + r] = (int8_t)nb_rq_tab(acc[2 * r], t + r, act_min, act_max);
                if (out_b != NULL) {
                    out_b[ob + r] = (int8_t)nb_rq_tab(acc[2 * r + 1], t + r, act_min, act_max);
                }
            }
        }
        ob += 4 * nb;
    }
    for (; ob < n_out; ob += 4) {
        int32_t acc[8];
        const int32_t nr = n_out - ob < 4 ? n_out - ob : 4;
        for (r = 0; r < 4; ++r) {
            acc[2 * r] = acc[2 * r + 1] = (bias != NULL && r < nr) ? bias[ob + r] : 0;
        }
#if NB_DSP_DOT4X2_ASM
        nb_dsp_dot4x2(col2, w16 + ob * (kp / 2), kp / 8, acc);
#else
        nb_dsp_dot4x2_c(col2, w16 + ob * (kp / 2), kp / 8, acc);
#endif
        if (rq_ok && act_min == NB_INT8_MIN && act_max == NB_INT8_MAX && nr == 4 && out_b != NULL) {
            /* full block, two columns: straight-line requantization of the 8 accumulators */
            out_a[ob] = (int8_t)nb_rq_tab_ssat(acc[0], rq + ob);
            out_b[ob] = (int8_t)nb_rq_tab_ssat(acc[1], rq + ob);
            out_a[ob + 1] = (int8_t)nb_rq_tab_ssat(acc[2], rq + ob + 1);
            out_b[ob + 1] = (int8_t)nb_rq_tab_ssat(acc[3], rq + ob + 1);
            out_a[ob + 2] = (int8_t)nb_rq_tab_ssat(acc[4], rq + ob + 2);
            out_b[ob + 2] = (int8_t)nb_rq_tab_ssat(acc[5], rq + ob + 2);
            out_a[ob + 3] = (int8_t)nb_rq_tab_ssat(acc[6], rq + ob + 3);
            out_b[ob + 3] = (int8_t)nb_rq_tab_ssat(acc[7], rq + ob + 3);
        } else if (rq_ok && act_min == NB_INT8_MIN && act_max == NB_INT8_MAX) {
            for (r = 0; r < nr; ++r) {
                const nb_rq_ch_t t = rq[ob + r];
                const int64_t c0 = (int64_t)(((uint64_t)(uint32_t)t.hi << 32) | t.lo);
                const int32_t ya = (int32_t)((c0 - ((int64_t)(acc[2 * r] < 0) << 31) + (int64_t)acc[2 * r] * t.m) >> 32);
                out_a[ob + r] = (int8_t)nb_ssat8(ya >> t.es);
                if (out_b != NULL) {
                    const int32_t yb = (int32_t)((c0 - ((int64_t)(acc[2 * r + 1] < 0) << 31) +
                                                  (int64_t)acc[2 * r + 1] * t.m) >> 32);
                    out_b[ob + r] = (int8_t)nb_ssat8(yb >> t.es);
                }
            }
        } else if (rq_ok) {
            for (r = 0; r < nr; ++r) {
                out_a[ob + r] = (int8_t)nb_rq_tab(acc[2 * r], rq + ob + r, act_min, act_max);
                if (out_b != NULL) {
                    out_b[ob + r] = (int8_t)nb_rq_tab(acc[2 * r + 1], rq + ob + r, act_min, act_max);
                }
            }
        } else {
            for (r = 0; r < nr; ++r) {
                out_a[ob + r] = (int8_t)nb_rq(acc[2 * r], mult[ob + r], shift[ob + r], out_zp, act_min, act_max);
                if (out_b != NULL) {
                    out_b[ob + r] = (int8_t)nb_rq(acc[2 * r + 1], mult[ob + r], shift[ob + r], out_zp, act_min,
                                                  act_max);
                }
            }
        }
    }
}

/*
 * Blocked GEMM with requantization in registers ("g42": 4 rows x 2 columns per block), the CONV_2D path for
 * >= NB_DSP_W16_MIN_POS output positions per call with the full int8 output range. Per call (unless the code
 * generator prepared it: nb_dsp_g42_prepared below), nb_dsp_g42_prepare lays out a stream in scratch, block ob = rows 4ob..4ob+3 (rows >= n_out: zero):
 *   8 words   start values 2 * bias[r] - in_zp * sum(2 * row r), twice each (a0 b0 a1 b1 a2 b2 a3 b3);
 *   2 * Kp    words: per slot pair j (nb_dsp_slot order, Kp = ceil8(K)) the 4 rows' words of 2 * weight;
 *   12 words  per row {m, R, e}: R = 2^(e-1) + out_zp * 2^e, e = -shift.
 * The columns hold the RAW int8 inputs (padding: the input zero point), the start values fold the zero point in:
 * 2 * bias - in_zp * sum(2 * weights); with acc = 2 * (bias + row . (column - in_zp)) (every partial sum
 * exact: |bias| <= 2^28 and K <= 8192 bound them by 2^30):
 *   SMMLAR(acc, m, R - [acc < 0]) = SaturatingRoundingDoublingHighMul(acc / 2, m) + R, and the arithmetic
 *   shift by e gives RoundingDivideByPOT(., e) + out_zp (round half away from zero: the -[acc < 0] term;
 *   for m >= 0 the sign of acc stands for the sign of the high product, see nb_rq_tab), SSAT #8 the clamp.
 * Needs m >= 0 and 1 <= e <= 23 per channel (every quantize_multiplier result of a scale in [2^-24, 1)).
 * nb_dsp_g42 (assembly on Armv7E-M, nb_kernel_scratch.c) runs the FULL blocks for one column pair col2
 * (per slot pair: column a word, column b word) and writes 4 bytes to out_a and out_b per block.
 */
static inline int32_t nb_dsp_g42_block_words(int32_t K) { return 20 + 2 * nb_dsp_kp(K); }

/* Scratch words of the stream (all ceil4(n_out) / 4 blocks). */
static inline int32_t nb_dsp_g42_words(int32_t K, int32_t n_out)
{
    return ((n_out + 3) >> 2) * nb_dsp_g42_block_words(K);
}

/* A stream prepared at generation time (nb_conv2d_params_t.prepared, convert.kernel_variants.prepare_weights,
 * const data in flash): NB_DSP_G42_HEADER_WORDS words {NB_DSP_G42_MAGIC, K, n_out, stream words}, then the
 * stream exactly as nb_dsp_g42_prepare lays it out (the kernel then prepares nothing per call). */
#define NB_DSP_G42_MAGIC 0x3234676E /* "ng42" */
#define NB_DSP_G42_HEADER_WORDS 4

/* The stream of a prepared header for K / n_out, or NULL when `prepared` is NULL or not such a stream. */
static inline const int32_t *nb_dsp_g42_prepared(const void *prepared, int32_t K, int32_t n_out)
{
    const int32_t *h = (const int32_t *)prepared;
    if (h == NULL || h[0] != (int32_t)NB_DSP_G42_MAGIC || h[1] != K || h[2] != n_out ||
        h[3] != nb_dsp_g42_words(K, n_out)) {
        return NULL;
    }
    return h + NB_DSP_G42_HEADER_WORDS;
}

/* Frame of nb_dsp_g42 (32-bit words on the target: the assembly reads it by offset). */
typedef struct {
    uintptr_t col_adj;    /* col2 - 8 * skip (bytes) */
    int32_t w_adj;        /* 16 * skip - 32 (the start words precede the weights) */
    uintptr_t col_end;    /* col2 + 8 * steps, steps = Kp / 2 slot pairs */
    int32_t skip;         /* steps skipped in the first pass of the 32-step body: 32 * passes - steps */
    int8_t *out_a;        /* advanced by 4 per block */
    int8_t *out_b;
    const int32_t *stream_end; /* end of the full blocks */
    int32_t spare;
} nb_dsp_g42_frame_t;

static inline void nb_dsp_g42_frame(nb_dsp_g42_frame_t *f, const int32_t *col2, int32_t K, const int32_t *stream,
                                    int32_t nfull)
{
    const int32_t steps = nb_dsp_kp(K) / 2, skip = ((steps + 31) & ~31) - steps;
    f->col_adj = (uintptr_t)col2 - (uintptr_t)(8 * skip);
    f->w_adj = 16 * skip - 32;
    f->col_end = (uintptr_t)col2 + (uintptr_t)(8 * steps);
    f->skip = skip;
    f->stream_end = stream + nfull * nb_dsp_g42_block_words(K);
    f->spare = 0;
}

#if NB_DSP_NATIVE && defined(__thumb2__)
#define NB_DSP_G42_ASM 1
/* nb_kernel_scratch.c: one pass of the 32-step body (Kp <= 64) / several passes. */
void nb_dsp_g42_1(const int32_t *stream, const nb_dsp_g42_frame_t *f);
void nb_dsp_g42_n(const int32_t *stream, const nb_dsp_g42_frame_t *f);
/* Column a only (out_b unused), one pass (Kp <= 64). */
void nb_dsp_g41_1(const int32_t *stream, const nb_dsp_g42_frame_t *f);
static inline void nb_dsp_g42(const int32_t *stream, const nb_dsp_g42_frame_t *f)
{
    if (f->col_end - f->col_adj <= 256u) {
        nb_dsp_g42_1(stream, f);
    } else {
        nb_dsp_g42_n(stream, f);
    }
}
/* One column (the odd last position): returns 0 when the one-column kernel does not apply (several passes). */
static inline int nb_dsp_g41(const int32_t *stream, const nb_dsp_g42_frame_t *f)
{
    if (f->col_end - f->col_adj <= 256u) {
        nb_dsp_g41_1(stream, f);
        return 1;
    }
    return 0;
}
#else
#define NB_DSP_G42_ASM 0
/* Portable twin of the assembly (host builds): same stream, frame and results; two = 0: column a only. */
static inline void nb_dsp_g42_c(const int32_t *stream, const nb_dsp_g42_frame_t *f, int two)
{
    const int32_t skip = f->skip;
    const int32_t *col2 = (const int32_t *)(f->col_adj + (uintptr_t)(8 * skip));
    const int32_t steps = (int32_t)((f->col_end - (uintptr_t)col2) / 8);
    int8_t *oa = f->out_a, *ob = f->out_b;
    const int32_t *s = stream;
    while (s != f->stream_end) {
        int32_t acc[8], j, r;
        for (r = 0; r < 8; ++r) {
            acc[r] = s[r];
        }
        s += 8;
        for (j = 0; j < steps; ++j) {
            for (r = 0; r < 4; ++r) {
                acc[2 * r] = nb_smlad(s[4 * j + r], col2[2 * j], acc[2 * r]);
                acc[2 * r + 1] = nb_smlad(s[4 * j + r], col2[2 * j + 1], acc[2 * r + 1]);
            }
        }
        s += 4 * steps;
        for (r = 0; r < 4; ++r) {
            const int32_t m = s[3 * r], R = s[3 * r + 1], e = s[3 * r + 2];
            oa[r] = (int8_t)nb_ssat8(nb_smmlar(acc[2 * r], m, R + (acc[2 * r] >> 31)) >> e);
            if (two) {
                ob[r] = (int8_t)nb_ssat8(nb_smmlar(acc[2 * r + 1], m, R + (acc[2 * r + 1] >> 31)) >> e);
            }
        }
        s += 12;
        oa += 4;
        ob += two ? 4 : 0;
    }
}
static inline void nb_dsp_g42(const int32_t *stream, const nb_dsp_g42_frame_t *f) { nb_dsp_g42_c(stream, f, 1); }
static inline int nb_dsp_g41(const int32_t *stream, const nb_dsp_g42_frame_t *f)
{
    if (f->col_end - f->col_adj <= 256u) {
        nb_dsp_g42_c(stream, f, 0);
        return 1;
    }
    return 0;
}
#endif

/* Doubled int16 words of k4 (% 4 == 0) int8 weights into every 4th word of w (slot pairs 2g, 2g + 1 of group g:
 * w[8g], w[8g + 4]); returns their sum (wrapping int32 arithmetic). Two groups per iteration. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int32_t nb_dsp_g42_row(const int8_t *row, int32_t k4, int32_t *w)
{
    const int8_t *const end16 = row + (k4 & ~15), *const end = row + (k4 & ~7);
    const int32_t ones = 0x00010001;
    int32_t sum = 0;
    while (row != end16) {
        const uint32_t v0 = nb_read_u32(row), v1 = nb_read_u32(row + 4);
        const uint32_t v2 = nb_read_u32(row + 8), v3 = nb_read_u32(row + 12);
        const int32_t a = nb_sxtb16(v0), b = nb_sxtb16_ror8(v0), c = nb_sxtb16(v1), d = nb_sxtb16_ror8(v1);
        const int32_t a2 = nb_sadd16(a, a), b2 = nb_sadd16(b, b), c2 = nb_sadd16(c, c), d2 = nb_sadd16(d, d);
        const int32_t e = nb_sxtb16(v2), f = nb_sxtb16_ror8(v2), g = nb_sxtb16(v3), h = nb_sxtb16_ror8(v3);
        const int32_t e2 = nb_sadd16(e, e), f2 = nb_sadd16(f, f), g2 = nb_sadd16(g, g), h2 = nb_sadd16(h, h);
        row += 16;
        w[0] = a2;
        w[4] = b2;
        w[8] = c2;
        w[12] = d2;
        w[16] = e2;
        w[20] = f2;
        w[24] = g2;
        w[28] = h2;
        w += 32;
        sum = nb_smlad(a2, ones, nb_smlad(b2, ones, nb_smlad(c2, ones, nb_smlad(d2, ones, sum))));
        sum = nb_smlad(e2, ones, nb_smlad(f2, ones, nb_smlad(g2, ones, nb_smlad(h2, ones, sum))));
    }
    while (row != end) {
        const uint32_t v0 = nb_read_u32(row), v1 = nb_read_u32(row + 4);
        const int32_t a = nb_sxtb16(v0), b = nb_sxtb16_ror8(v0), c = nb_sxtb16(v1), d = nb_sxtb16_ror8(v1);
        const int32_t a2 = nb_sadd16(a, a), b2 = nb_sadd16(b, b), c2 = nb_sadd16(c, c), d2 = nb_sadd16(d, d);
        row += 8;
        w[0] = a2;
        w[4] = b2;
        w[8] = c2;
        w[12] = d2;
        w += 16;
        sum = nb_smlad(a2, ones, nb_smlad(b2, ones, nb_smlad(c2, ones, nb_smlad(d2, ones, sum))));
    }
    if (k4 & 4) {
        const uint32_t v0 = nb_read_u32(row);
        const int32_t a = nb_sxtb16(v0), b = nb_sxtb16_ror8(v0);
        const int32_t a2 = nb_sadd16(a, a), b2 = nb_sadd16(b, b);
        w[0] = a2;
        w[4] = b2;
        sum = nb_smlad(a2, ones, nb_smlad(b2, ones, sum));
    }
    return sum;
}

/* Lay out the stream (see above); returns 0 (nothing usable) when a channel or K is outside the exact range. */
static inline int nb_dsp_g42_prepare(const int8_t *filter, int32_t K, const int32_t *bias, int32_t n_out,
                                     const int32_t *mult, const int32_t *shift, int32_t per_channel,
                                     int32_t in_zp, int32_t out_zp, int32_t *stream)
{
    const int32_t kp = nb_dsp_kp(K), k4 = K & ~3, bw = nb_dsp_g42_block_words(K);
    const int32_t nfull = n_out >> 2, tail = n_out & 3;
    const int8_t *row = filter;
    int32_t *blk = stream;
    int32_t oc, r, j;
    if (K > 8192) {
        return 0;
    }
    /* requantization words and the exactness checks */
    for (oc = 0; oc < n_out; ++oc) {
        const int32_t q = per_channel ? oc : 0, m = mult[q], e = -shift[q];
        const int32_t b = bias != NULL ? bias[oc] : 0;
        int32_t *prm = stream + (oc >> 2) * bw + 8 + 2 * kp + 3 * (oc & 3);
        if (m < 0 || (uint32_t)(e - 1) > 22u || (uint32_t)b + (1u << 28) > (1u << 29)) {
            return 0;
        }
        prm[0] = m;
        prm[1] = (int32_t)((1u << (e - 1)) + (uint32_t)out_zp * (1u << e));
        prm[2] = e;
    }
    /* weights and start values; the input zero point folded in (columns hold the raw int8 inputs) */
    for (oc = 0; oc < n_out; ++oc, row += K) {
        int32_t *w, sum2;
        r = oc & 3;
        blk = stream + (oc >> 2) * bw;
        w = blk + 8 + r;
        sum2 = nb_dsp_g42_row(row, k4, w);
        if (k4 < kp) {
            w += 2 * k4;
            for (j = k4 / 2; j < kp / 2; ++j) {
                const int32_t k = 2 * j;
                const int32_t x0 = k < K ? 2 * row[k] : 0, x1 = k + 1 < K ? 2 * row[k + 1] : 0;
                *w = (int32_t)(((uint32_t)(uint16_t)x0) | ((uint32_t)(uint16_t)x1 << 16));
                sum2 += x0 + x1;
                w += 4;
            }
        }
        blk[2 * r] = blk[2 * r + 1] = 2 * (bias != NULL ? bias[oc] : 0) - in_zp * sum2;
    }
    /* rows of the partial last block: zero */
    if (tail) {
        blk = stream + nfull * bw;
        for (r = tail; r < 4; ++r) {
            blk[2 * r] = blk[2 * r + 1] = 0;
            for (j = 0; j < kp / 2; ++j) {
                blk[8 + r + 4 * j] = 0;
            }
            blk[8 + 2 * kp + 3 * r] = 0;
            blk[8 + 2 * kp + 3 * r + 1] = 0;
            blk[8 + 2 * kp + 3 * r + 2] = 1;
        }
    }
    return 1;
}

/* Rows 4 * nfull .. n_out - 1 (the partial last block) of a column pair, in C from the same stream. */
static inline void nb_dsp_g42_tail(const int32_t *col2, const int32_t *stream, int32_t K, int32_t nfull,
                                   int32_t n_out, int8_t *out_a, int8_t *out_b)
{
    const int32_t kp = nb_dsp_kp(K);
    const int32_t *blk = stream + nfull * nb_dsp_g42_block_words(K);
    int32_t r, j;
    for (r = 0; r < n_out - 4 * nfull; ++r) {
        int32_t a = blk[2 * r], b = blk[2 * r + 1];
        const int32_t *prm = blk + 8 + 2 * kp + 3 * r;
        for (j = 0; j < kp / 2; ++j) {
            a = nb_smlad(blk[8 + 4 * j + r], col2[2 * j], a);
            b = nb_smlad(blk[8 + 4 * j + r], col2[2 * j + 1], b);
        }
        out_a[4 * nfull + r] = (int8_t)nb_ssat8(nb_smmlar(a, prm[0], prm[1] + (a >> 31)) >> prm[2]);
        out_b[4 * nfull + r] = (int8_t)nb_ssat8(nb_smmlar(b, prm[0], prm[1] + (b >> 31)) >> prm[2]);
    }
}

#endif /* NB_DSP_GEMM_H */
