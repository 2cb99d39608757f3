/* nb_conv2d_dsp.c - int8 CONV_2D for Cortex-M4/M7 (DSP extension); defines nb_conv2d (see nb_conv2d.h).
 *
 * im2col of two output positions at a time into nb_kernel_scratch (int16, input offset added, SXTB16
 * order), then nb_dsp_gemm: 2 positions x 2 output channels per inner loop with SMLAD (one position: the
 * assembly row-pair loop nb_dsp_dot2x1_rows). With >= 4 positions the blocked int16-weight path
 * (nb_conv2d_w16, 4 channels x 2 positions, nb_dsp_gemm_w16); there 1x1 kernels without padding and
 * c_in % 4 == 0 widen the two input pixels straight into the interleaved column pair (no im2col).
 * Otherwise 1x1 and 1xN kernels with c_in % 4 == 0 widen whole pixel rows with SXTB16/SADD16. Scratch:
 * 4 * ceil2(K) + 4 * floor4(K) bytes, K = kh*kw*c_in (convert.kernel_variants.scratch_bytes); grouped
 * convolutions or a too small scratch use the portable loop nest below. Bit-exact to nb_conv2d.c. */
#include "nb_conv2d.h"
#include "nb_dsp_gemm.h"

/* im2col of output position (b, oy, ox) into col (K int16, SXTB16 order). A kernel row that lies inside the
 * input with dilation_w 1 is one contiguous run of kw*c_in bytes; when that is a multiple of 4 it is widened
 * with SXTB16/SADD16 (its groups of 4 are aligned: every row starts at a multiple of kw*c_in). */
static void nb_conv2d_im2col(const nb_conv2d_params_t *p, const int8_t *input, int32_t b, int32_t oy, int32_t ox,
                             int16_t *col)
{
    const int32_t in_c = p->in.c, k_h = p->filter.h, k_w = p->filter.w;
    const int32_t row_len = k_w * in_c;
    const int32_t K = k_h * row_len, k4 = K & ~3;
    const int32_t offset = -p->input_zero_point;
    const int32_t in_y0 = oy * p->stride_h - p->pad_h, in_x0 = ox * p->stride_w - p->pad_w;
    const int row_fast = (row_len & 3) == 0 && p->dilation_w == 1 && in_x0 >= 0 && in_x0 + k_w <= p->in.w;
    int32_t ky, kx, ic, i, base = 0;
    for (ky = 0; ky < k_h; ++ky, base += row_len) {
        const int32_t in_y = in_y0 + p->dilation_h * ky;
        if (in_y < 0 || in_y >= p->in.h) {
            for (i = 0; i < row_len; ++i) {
                col[nb_dsp_slot(base + i, k4)] = 0;
            }
        } else if (row_fast) {
            nb_dsp_widen_reordered(input + ((b * p->in.h + in_y) * p->in.w + in_x0) * in_c, row_len, offset,
                                   col + base);
        } else {
            for (kx = 0; kx < k_w; ++kx) {
                const int32_t in_x = in_x0 + p->dilation_w * kx;
                const int inside = in_x >= 0 && in_x < p->in.w;
                const int8_t *px = input + ((b * p->in.h + in_y) * p->in.w + in_x) * in_c;
                for (ic = 0; ic < in_c; ++ic) {
                    col[nb_dsp_slot(base + kx * in_c + ic, k4)] = (int16_t)(inside ? (int32_t)px[ic] + offset : 0);
                }
            }
        }
    }
}

/* 1x1 kernel without padding, c_in % 4 == 0: the K = c_in input values of an output position are one
 * contiguous pixel; widen the pixels of positions a and b straight into the interleaved col2 layout of
 * nb_dsp_gemm_w16 (per group of 4: a02, b02, a13, b13), no im2col columns, no interleave pass. */
static void nb_conv2d_pixels2(const int8_t *px_a, const int8_t *px_b, int32_t in_c, int32_t offset, int32_t *col2)
{
    const int32_t off2 = (int32_t)(((uint32_t)(uint16_t)offset) | ((uint32_t)(uint16_t)offset << 16));
    int32_t *const end = col2 + in_c;
    while (col2 != end) {
        const uint32_t va = nb_read_u32(px_a), vb = nb_read_u32(px_b);
        px_a += 4;
        px_b += 4;
        col2[0] = nb_sadd16(nb_sxtb16(va), off2);
        col2[1] = nb_sadd16(nb_sxtb16(vb), off2);
        col2[2] = nb_sadd16(nb_sxtb16_ror8(va), off2);
        col2[3] = nb_sadd16(nb_sxtb16_ror8(vb), off2);
        col2 += 4;
    }
}

/* Blocked path (n_pos >= NB_DSP_W16_MIN_POS): widen the filter once (nb_dsp_w16_expand), then per pair of
 * output positions im2col both, interleave, and nb_dsp_gemm_w16 (4 channels x 2 positions per loop). */
#define NB_DSP_W16_MIN_POS 4

static int32_t nb_conv2d_w16_need(int32_t K, int32_t out_c)
{
    const int32_t kp = nb_dsp_kp(K);
    return 4 * (nb_dsp_w16_words(K, out_c) + 4 * out_c + 2 * kp);
}

/* Not inlined into nb_conv2d: kept apart, the blocked path's code does not change the register allocation of
 * the streaming (one position per call) loop below. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void nb_conv2d_w16(const nb_conv2d_params_t *p, const int8_t *input, const int8_t *filter,
                          const int32_t *bias, int8_t *output)
{
    const int32_t out_w = p->out.w, out_c = p->out.c;
    const int32_t K = p->filter.h * p->filter.w * p->filter.c, kp = nb_dsp_kp(K);
    const int32_t n_pos = p->out.h * out_w;
    int32_t *w16 = nb_kernel_scratch;
    nb_rq_ch_t *rq = (nb_rq_ch_t *)(void *)(w16 + nb_dsp_w16_words(K, out_c));
    int16_t *col_a = (int16_t *)(void *)(rq + out_c);
    int16_t *col_b = col_a + kp;
    int32_t *col2 = (int32_t *)(void *)(col_b + kp);
    const int rq_ok = nb_rq_prepare(p->out_multiplier, p->out_shift, 1, out_c, p->output_zero_point, rq);
    int32_t b, pos, k;

    nb_dsp_w16_expand(filter, K, out_c, w16);
    for (k = K; k < kp; ++k) {
        col_a[k] = 0;
        col_b[k] = 0;
        col2[k] = 0; /* padding words of the direct 1x1 layout (slot pairs K/2..kp/2: words K..kp) */
    }
    if (p->filter.h == 1 && p->filter.w == 1 && p->pad_h == 0 && p->pad_w == 0 && (K & 3) == 0) {
        const int32_t in_c = p->in.c, sh = p->stride_h * p->in.w * in_c, sw = p->stride_w * in_c;
        for (b = 0; b < p->out.n; ++b) {
            const int8_t *in_b = input + b * p->in.h * p->in.w * in_c;
            int8_t *out_b = output + b * n_pos * out_c;
            for (pos = 0; pos < n_pos; pos += 2) {
                const int two = pos + 1 < n_pos;
                const int8_t *px_a = in_b + (pos / out_w) * sh + (pos % out_w) * sw;
                const int8_t *px_b = two ? in_b + ((pos + 1) / out_w) * sh + ((pos + 1) % out_w) * sw : px_a;
                nb_conv2d_pixels2(px_a, px_b, in_c, -p->input_zero_point, col2);
                nb_dsp_gemm_w16(col2, w16, K, bias, out_c, rq, rq_ok, p->out_multiplier, p->out_shift,
                                p->output_zero_point, p->act_min, p->act_max, out_b + pos * out_c,
                                two ? out_b + (pos + 1) * out_c : NULL);
            }
        }
        return;
    }
    for (b = 0; b < p->out.n; ++b) {
        int8_t *out_b = output + b * n_pos * out_c;
        for (pos = 0; pos < n_pos; pos += 2) {
            const int two = pos + 1 < n_pos;
            nb_conv2d_im2col(p, input, b, pos / out_w, pos % out_w, col_a);
            if (two) {
                nb_conv2d_im2col(p, input, b, (pos + 1) / out_w, (pos + 1) % out_w, col_b);
            }
            nb_dsp_interleave2(col_a, two ? col_b : col_a, kp, col2);
            nb_dsp_gemm_w16(col2, w16, K, bias, out_c, rq, rq_ok, p->out_multiplier, p->out_shift,
                            p->output_zero_point, p->act_min, p->act_max, out_b + pos * out_c,
                            two ? out_b + (pos + 1) * out_c : NULL);
        }
    }
}

void nb_conv2d(const nb_conv2d_params_t *p, const int8_t *input, const int8_t *filter, const int32_t *bias,
               int8_t *output)
{
    const int32_t out_h = p->out.h, out_w = p->out.w, out_c = p->out.c;
    const int32_t K = p->filter.h * p->filter.w * p->filter.c;
    const int32_t col_stride = (K + 1) & ~1;
    const int32_t n_pos = out_h * out_w;
    int16_t *col_a = (int16_t *)(void *)nb_kernel_scratch;
    int16_t *col_b = col_a + col_stride;
    int32_t *col_ab = (int32_t *)(void *)(col_b + col_stride);
    int32_t b, pos;

    if (p->filter.c == p->in.c && n_pos >= NB_DSP_W16_MIN_POS &&
        (int32_t)sizeof(nb_kernel_scratch) >= nb_conv2d_w16_need(K, out_c)) {
        nb_conv2d_w16(p, input, filter, bias, output);
        return;
    }
    if (p->filter.c != p->in.c || (int32_t)sizeof(nb_kernel_scratch) < 4 * col_stride + 4 * (K & ~3)) {
        nb_conv2d_ref(p, input, filter, bias, output);
        return;
    }
    for (b = 0; b < p->out.n; ++b) {
        int8_t *out_b = output + b * n_pos * out_c;
        for (pos = 0; pos + 1 < n_pos; pos += 2) {
            nb_conv2d_im2col(p, input, b, pos / out_w, pos % out_w, col_a);
            nb_conv2d_im2col(p, input, b, (pos + 1) / out_w, (pos + 1) % out_w, col_b);
            nb_dsp_gemm(col_a, col_b, col_ab, K, filter, bias, out_c, p->out_multiplier, p->out_shift, 1,
                        p->output_zero_point, p->act_min, p->act_max, out_b + pos * out_c,
                        out_b + (pos + 1) * out_c);
        }
        if (pos < n_pos) {
            nb_conv2d_im2col(p, input, b, pos / out_w, pos % out_w, col_a);
            nb_dsp_gemm(col_a, NULL, NULL, K, filter, bias, out_c, p->out_multiplier, p->out_shift, 1,
                        p->output_zero_point, p->act_min, p->act_max, out_b + pos * out_c, NULL);
        }
    }
}
