/* nb_conv2d_mve.c - int8 CONV_2D for Cortex-M55 (MVE / Helium); defines nb_conv2d (see nb_conv2d.h).
 *
 * Blocked path (>= NB_CONVM_BLOCK_MIN_POS output positions per call incl. batch, every shift <= 0): the
 * filter is packed once per call into blocks of 4 output channels x 16-byte K chunks (nb_mve_pack4, which
 * also folds the input offset into per-channel start values bias - input_zp * sum(w)), then pairs of
 * output positions run nb_mve_gemm4x2 (assembly, nb_mve.h) over all full channel blocks: 4 channels x
 * 2 positions per block, 6 vector loads per 8 VMLADAV (16 MACs each) into 8 scalar accumulators, then the
 * two 4-channel rows requantized on vectors (VQRDMULH double rounding as TFLM; without the half-away
 * fixup for relu-type clamps, nb_mve_gemm4x2_clamp0) and stored. At most 8 scalar accumulators fit
 * (VMLADAV writes even registers only), so 4x2 is the largest block. Columns: 1x1 unpadded kernels with
 * K % 16 == 0 read the input pixels in place (stride 1 over the whole tensor: one assembly call for every
 * pair); otherwise up to 2 * NB_CONVM_COL_PAIRS columns (im2col: padded taps = input_zp, whose
 * w * (x - zp) is 0 as the reference skips them; zeros from K to ceil16(K)) are built, then one assembly
 * call runs their pairs. A channel tail (c_out % 4) runs one more block per pair into a spare row and is
 * copied; an odd last position pairs with itself (second row to the spare row).
 * Scratch (blocked): ceil4(c_out) * ceil16(K) + 12 * ceil4(c_out) (packed filter and block info) +
 * ceil4(c_out) + 16 (spare rows) + 2 .. 2 * NB_CONVM_COL_PAIRS columns of ceil16(K) bytes (at least 2).
 *
 * Few positions (the streaming VAD: 1-3 per call; packing would not pay) or a positive shift: VMLADAVA
 * dot products, two output positions x two output channels per loop, the input offset term
 * -input_zp * sum(w) summed in the same pass (nb_mve_gemm_fused: every weight loaded once per position
 * pair), requantization vectorized over 4 output channels (nb_mve_requant_row; every shift <= 0, checked
 * with one VMAXV per 4 channels: the shorter form, without the half-away fixup for relu-type clamps). Scratch:
 * 8 * ceil4(c_out) + 2 * ceil16(K) bytes (two accumulator rows, two columns; 1x1 unpadded: no columns).
 * Grouped convolutions or a too small scratch for both use the portable loop nest.
 * convert.kernel_variants.scratch_bytes gives the sizes. Bit-exact to nb_conv2d.c. */
#include <string.h>

#include "nb_conv2d.h"
#include "nb_mve.h"
#include "nb_kernel_paths.h"

/* NB_MVE_CONV2D_BLOCKED 0 (nb_kernel_paths.h, written per model by the code generator from
 * convert.kernel_variants.path_switches: no CONV_2D op of the model has >= NB_CONVM_BLOCK_MIN_POS output
 * positions per call without groups) compiles the blocked path and its helpers out. Default 1: every path. */
#ifndef NB_MVE_CONV2D_BLOCKED
#define NB_MVE_CONV2D_BLOCKED 1
#endif

/* dst[0, n) = src[0, n) with predicated 16-byte vector moves. */
static inline void nb_convm_copy(int8_t *dst, const int8_t *src, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i += 16) {
        const mve_pred16_t pr = vctp8q((uint32_t)(n - i));
        vstrbq_p_s8(dst + i, vldrbq_z_s8(src + i, pr), pr);
    }
}

/* im2col (int8, padded taps = input zero point) of output position (b, oy, ox) into col[0, K); with
 * dilation_w == 1 the valid taps of a kernel row are one contiguous input run (vector copies; a column
 * with padded taps is first filled with the zero point up to ceil16(K), so col must hold ceil16(K)). */
static void nb_conv2d_im2col_s8(const nb_conv2d_params_t *p, const int8_t *input, int32_t b, int32_t oy,
                                int32_t ox, int8_t *col)
{
    const int32_t in_c = p->in.c, k_w = p->filter.w, k_h = p->filter.h, row = k_w * in_c;
    const int32_t in_y0 = oy * p->stride_h - p->pad_h, in_x0 = ox * p->stride_w - p->pad_w;
    const int8_t zp = (int8_t)p->input_zero_point;
    int32_t ky, kx, i;
    if (p->dilation_w == 1) {
        const int32_t kx0 = in_x0 < 0 ? nb_min_i32(-in_x0, k_w) : 0;
        const int32_t kx1 = nb_max_i32(kx0, nb_min_i32(k_w, p->in.w - in_x0));
        const int32_t n = (kx1 - kx0) * in_c, dh = p->dilation_h;
        int32_t ky0, ky1;
        if (dh == 1) {
            ky0 = nb_min_i32(nb_max_i32(0, -in_y0), k_h);
            ky1 = nb_max_i32(ky0, nb_min_i32(k_h, p->in.h - in_y0));
        } else {
            ky0 = 0;
            while (ky0 < k_h && in_y0 + dh * ky0 < 0) {
                ++ky0;
            }
            ky1 = k_h;
            while (ky1 > ky0 && in_y0 + dh * (ky1 - 1) >= p->in.h) {
                --ky1;
            }
        }
        if (n < row || ky0 > 0 || ky1 < k_h) {
            const int8x16_t z = vdupq_n_s8(zp);
            for (i = 0; i < k_h * row; i += 16) {
                vstrbq_s8(col + i, z);
            }
        }
        if (n > 0 && ky1 > ky0) {
            const int32_t src_step = dh * p->in.w * in_c;
            int8_t *dst = col + ky0 * row + kx0 * in_c;
            const int8_t *src = input + ((b * p->in.h + in_y0 + dh * ky0) * p->in.w + in_x0 + kx0) * in_c;
            if (n == 4) {
                /* one unaligned word per kernel row (kws conv0: 1 input channel x 4 taps) */
                const int32_t n_rows = ky1 - ky0;
                for (ky = 0; ky < n_rows; ++ky) {
                    uint32_t v;
                    memcpy(&v, src + ky * src_step, 4);
                    memcpy(dst + ky * row, &v, 4);
                }
            } else if (n > 16) {
                for (ky = ky0; ky < ky1; ++ky, dst += row, src += src_step) {
                    nb_convm_copy(dst, src, n);
                }
            } else if (n == 3) {
                /* a halfword and a byte per kernel row (kws conv0 at a padded edge) */
                const int32_t n_rows = ky1 - ky0;
                for (ky = 0; ky < n_rows; ++ky) {
                    const int8_t *s = src + ky * src_step;
                    int8_t *d = dst + ky * row;
                    uint16_t v;
                    memcpy(&v, s, 2);
                    memcpy(d, &v, 2);
                    d[2] = s[2];
                }
            } else {
                const mve_pred16_t pr = vctp8q((uint32_t)n);
                for (ky = ky0; ky < ky1; ++ky, dst += row, src += src_step) {
                    vstrbq_p_s8(dst, vldrbq_z_s8(src, pr), pr);
                }
            }
        }
        return;
    }
    for (ky = 0; ky < k_h; ++ky) {
        const int32_t in_y = in_y0 + p->dilation_h * ky;
        for (kx = 0; kx < k_w; ++kx) {
            const int32_t in_x = in_x0 + p->dilation_w * kx;
            if (in_y >= 0 && in_y < p->in.h && in_x >= 0 && in_x < p->in.w) {
                nb_convm_copy(col + kx * in_c, input + ((b * p->in.h + in_y) * p->in.w + in_x) * in_c, in_c);
            } else {
                for (i = 0; i < in_c; ++i) {
                    col[kx * in_c + i] = zp;
                }
            }
        }
        col += row;
    }
}

#define NB_CONVM_BLOCK_MIN_POS 4 /* output positions per call (batch included) for the blocked path */
#if NB_MVE_CONV2D_BLOCKED
#define NB_CONVM_COL_PAIRS 4     /* column pairs built per assembly call (im2col), as the scratch allows */

/* Output positions a and b (columns xa, xb; xb == NULL: a alone) through nb_mve_gemm4x2 over all channel
 * blocks: row a at out, row b right after it (out + c_out); the row of a missing b and the channel tail
 * block (copied out) go to spare (ceil4(c_out) + 16 bytes). */
static void nb_convm_pair(nb_mve_gemm4x2_args_t *g, void (*gemm)(const nb_mve_gemm4x2_args_t *), const int8_t *wp,
                          int32_t n_full, int32_t tail, const int8_t *xa, const int8_t *xb, int8_t *out,
                          int8_t *spare)
{
    const int32_t out_c = 4 * n_full + tail;
    int8_t *ob = xb != NULL ? out + out_c : spare;
    int32_t i;
    g->xa = xa;
    g->xb = xb != NULL ? xb : xa;
    if (n_full > 0) {
        g->w = wp;
        g->out_a = out;
        g->out_b = ob;
        g->n_blocks = n_full;
        gemm(g);
    }
    if (tail) {
        int8_t *t = spare + 4 * n_full + 4;
        g->w = wp + n_full * NB_MVE_PACK4_BLOCK(g->nch);
        g->out_a = t;
        g->out_b = t + 4;
        g->n_blocks = 1;
        gemm(g);
        for (i = 0; i < tail; ++i) {
            out[4 * n_full + i] = t[i];
            if (xb != NULL) {
                ob[4 * n_full + i] = t[4 + i];
            }
        }
    }
}

/* The blocked path (see the top comment); the caller checked groups, scratch size and shifts <= 0. */
static void __attribute__((noinline)) nb_conv2d_blocked(const nb_conv2d_params_t *p, const int8_t *input, const int8_t *filter,
                              const int32_t *bias, int8_t *output)
{
    const int32_t out_w = p->out.w, out_c = p->out.c;
    const int32_t K = p->filter.h * p->filter.w * p->filter.c;
    const int32_t n_pos = p->out.h * out_w, total = p->out.n * n_pos;
    const int32_t c4 = (out_c + 3) & ~3, k16 = (K + 15) & ~15, nch = k16 >> 4;
    const int32_t n_full = out_c >> 2, tail = out_c & 3;
    const int is_1x1 = p->filter.h == 1 && p->filter.w == 1 && p->pad_h == 0 && p->pad_w == 0;
    const int in_place = is_1x1 && K == k16;
    int8_t *wp = (int8_t *)(void *)nb_kernel_scratch; /* packed weights and block info (nb_mve_pack4) */
    int8_t *spare = wp + 12 * c4 + c4 * k16; /* c4 + 16 bytes: second row of an odd last position, tail rows */
    int8_t *cols = spare + c4 + 16;
    /* columns built per call of the assembly: an even number, 2 .. 2 * NB_CONVM_COL_PAIRS, as the scratch allows
     * (the caller checked room for two) */
    const int32_t n_cols = nb_min_i32(2 * NB_CONVM_COL_PAIRS,
                                      ((int32_t)sizeof(nb_kernel_scratch) - (12 * c4 + c4 * k16 + c4 + 16)) / k16) & ~1;
    /* relu-type clamps (act_min >= output zero point) need no rounding fixup of negative products */
    void (*const gemm)(const nb_mve_gemm4x2_args_t *) =
        p->act_min >= p->output_zero_point ? nb_mve_gemm4x2_clamp0 : nb_mve_gemm4x2;
    nb_mve_gemm4x2_args_t g;
    int32_t b = 0, oy = 0, ox = 0, q, i, j;

    nb_mve_pack4(filter, K, out_c, bias, p->input_zero_point, p->out_multiplier, p->out_shift, 1, wp);
    g.nch = nch;
    g.out_zp = p->output_zero_point;
    g.act_min = p->act_min;
    g.act_max = p->act_max;
    g.x_step = 0;
    g.out_step = 0;
    g.n_pairs = 1;
    if (in_place && tail == 0 && p->stride_h == 1 && p->stride_w == 1 && p->out.w == p->in.w &&
        p->out.h == p->in.h) {
        /* the pixels of all positions (and batches) are consecutive columns: one call for every pair */
        if (total >= 2) {
            g.w = wp;
            g.n_blocks = n_full;
            g.xa = input;
            g.xb = input + K;
            g.out_a = output;
            g.out_b = output + out_c;
            g.n_pairs = total >> 1;
            g.x_step = 2 * K;
            g.out_step = 2 * out_c;
            gemm(&g);
            g.n_pairs = 1;
            g.x_step = 0;
            g.out_step = 0;
        }
        if (total & 1) {
            nb_convm_pair(&g, gemm, wp, n_full, tail, input + (total - 1) * K, NULL,
                          output + (total - 1) * out_c, spare);
        }
        return;
    }
    if (in_place) {
        /* 1x1 with strides: the pixels in place, one pair at a time */
        for (q = 0; q < total; q += 2) {
            const int two = q + 1 < total;
            const int8_t *xa = input + ((b * p->in.h + oy * p->stride_h) * p->in.w + ox * p->stride_w) * K;
            const int8_t *xb = NULL;
            if (++ox == out_w) {
                ox = 0;
                if (++oy == p->out.h) {
                    oy = 0;
                    ++b;
                }
            }
            if (two) {
                xb = input + ((b * p->in.h + oy * p->stride_h) * p->in.w + ox * p->stride_w) * K;
                if (++ox == out_w) {
                    ox = 0;
                    if (++oy == p->out.h) {
                        oy = 0;
                        ++b;
                    }
                }
            }
            nb_convm_pair(&g, gemm, wp, n_full, tail, xa, xb, output + q * out_c, spare);
        }
        return;
    }
    /* columns (im2col, or a copy of the pixel for 1x1 with K % 16 != 0) for up to n_cols positions, then the
     * assembly over their pairs in one call; zeros from K to ceil16(K) (the packed filter is zero there) */
    for (j = 0; j < n_cols; ++j) {
        for (i = K; i < k16; ++i) {
            cols[j * k16 + i] = 0;
        }
    }
    for (q = 0; q < total;) {
        const int32_t m = nb_min_i32(n_cols, total - q);
        int8_t *out = output + q * out_c;
        for (j = 0; j < m; ++j) {
            if (is_1x1) {
                nb_convm_copy(cols + j * k16,
                              input + ((b * p->in.h + oy * p->stride_h) * p->in.w + ox * p->stride_w) * K, K);
            } else {
                nb_conv2d_im2col_s8(p, input, b, oy, ox, cols + j * k16);
            }
            if (++ox == out_w) {
                ox = 0;
                if (++oy == p->out.h) {
                    oy = 0;
                    ++b;
                }
            }
        }
        if (tail == 0 && m >= 2) {
            g.w = wp;
            g.n_blocks = n_full;
            g.xa = cols;
            g.xb = cols + k16;
            g.out_a = out;
            g.out_b = out + out_c;
            g.n_pairs = m >> 1;
            g.x_step = 2 * k16;
            g.out_step = 2 * out_c;
            gemm(&g);
            g.n_pairs = 1;
            g.x_step = 0;
            g.out_step = 0;
            j = m & ~1;
        } else {
            for (j = 0; j + 1 < m; j += 2) {
                nb_convm_pair(&g, gemm, wp, n_full, tail, cols + j * k16, cols + (j + 1) * k16,
                              out + j * out_c, spare);
            }
        }
        if (j < m) {
            nb_convm_pair(&g, gemm, wp, n_full, tail, cols + j * k16, NULL, out + j * out_c, spare);
        }
        q += m;
    }
}

#endif /* NB_MVE_CONV2D_BLOCKED */

void nb_conv2d(const nb_conv2d_params_t *p, const int8_t *input, const int8_t *filter, const int32_t *bias,
               int8_t *output)
{
    const int32_t out_w = p->out.w, out_c = p->out.c;
    const int32_t K = p->filter.h * p->filter.w * p->filter.c;
    const int32_t n_pos = p->out.h * out_w;
    const int32_t c4 = (out_c + 3) & ~3, k16 = (K + 15) & ~15;
    const int direct = p->filter.h == 1 && p->filter.w == 1 && p->pad_h == 0 && p->pad_w == 0;
    int32_t *acc_a = nb_kernel_scratch;
    int32_t *acc_b = acc_a + c4;
    int8_t *col_a = (int8_t *)(void *)(acc_b + c4);
    int8_t *col_b = col_a + k16;
    int32_t b, pos, rq_mode;

#if NB_MVE_CONV2D_BLOCKED
    if (p->filter.c == p->in.c && p->out.n * n_pos >= NB_CONVM_BLOCK_MIN_POS &&
        (int32_t)sizeof(nb_kernel_scratch) >= 12 * c4 + c4 * k16 + 2 * k16 + c4 + 16 &&
        nb_mve_shifts_nonpos(p->out_shift, out_c)) {
        nb_conv2d_blocked(p, input, filter, bias, output);
        return;
    }
#endif
    if (p->filter.c != p->in.c || (int32_t)sizeof(nb_kernel_scratch) < 8 * c4 + (direct ? 0 : 2 * k16)) {
        nb_conv2d_ref(p, input, filter, bias, output);
        return;
    }
    /* every shift <= 0 (one VMAXV per 4 channels to check): the shorter requantization, without the fixup
     * for relu-type clamps */
    rq_mode = !nb_mve_shifts_nonpos(p->out_shift, out_c) ? 1 : p->act_min >= p->output_zero_point ? -2 : -1;
    for (b = 0; b < p->out.n; ++b) {
        int8_t *out_b = output + b * n_pos * out_c;
        for (pos = 0; pos < n_pos; pos += 2) {
            const int two = pos + 1 < n_pos;
            const int32_t oy = pos / out_w, ox = pos % out_w;
            const int8_t *ca, *cb = NULL;
            if (direct) {
                const int32_t iy = oy * p->stride_h, ix = ox * p->stride_w;
                ca = input + ((b * p->in.h + iy) * p->in.w + ix) * K;
                if (two) {
                    const int32_t iy1 = ((pos + 1) / out_w) * p->stride_h, ix1 = ((pos + 1) % out_w) * p->stride_w;
                    cb = input + ((b * p->in.h + iy1) * p->in.w + ix1) * K;
                }
            } else {
                nb_conv2d_im2col_s8(p, input, b, oy, ox, col_a);
                ca = col_a;
                if (two) {
                    nb_conv2d_im2col_s8(p, input, b, (pos + 1) / out_w, (pos + 1) % out_w, col_b);
                    cb = col_b;
                }
            }
            nb_mve_gemm_fused(ca, cb, K, filter, bias, p->input_zero_point, out_c, acc_a, acc_b);
            nb_mve_requant_row(acc_a, out_c, p->out_multiplier, p->out_shift, rq_mode, p->output_zero_point, p->act_min,
                               p->act_max, out_b + pos * out_c);
            if (two) {
                nb_mve_requant_row(acc_b, out_c, p->out_multiplier, p->out_shift, rq_mode, p->output_zero_point,
                                   p->act_min, p->act_max, out_b + (pos + 1) * out_c);
            }
        }
    }
}
