/* nb_conv2d_mve.c - int8 CONV_2D for Cortex-M55 (MVE / Helium); defines nb_conv2d (see nb_conv2d.h).
 *
 * int8 x int8 dot products with VMLADAVA (16 MACs per instruction), two output positions x two output
 * channels per loop. The input offset is folded into per-call start values:
 * start[oc] = bias[oc] + (-input_zp) * sum_k w[oc][k], with padded taps of the im2col column filled with
 * input_zp (their w * (x - zp) is 0, as the reference skips them). 1x1 kernels without padding read the
 * input pixels directly (no im2col copy). Requantization is vectorized over 4 output channels
 * (nb_mve_requant; nb_mve_requant_rs when every shift is <= 0 and the call has >= 4 output positions).
 * Scratch: 12 * ceil4(c_out) + 2 * ceil16(kh*kw*c_in) bytes
 * (convert.kernel_variants.scratch_bytes); grouped convolutions or a too small scratch use the portable
 * loop nest. Bit-exact to nb_conv2d.c. */
#include "nb_conv2d.h"
#include "nb_mve.h"

/* im2col (int8, padded taps = input zero point) of output position (b, oy, ox). */
static void nb_conv2d_im2col_s8(const nb_conv2d_params_t *p, const int8_t *input, int32_t b, int32_t oy,
                                int32_t ox, int8_t *col)
{
    const int32_t in_c = p->in.c, k_w = p->filter.w;
    const int32_t in_y0 = oy * p->stride_h - p->pad_h, in_x0 = ox * p->stride_w - p->pad_w;
    const int8_t zp = (int8_t)p->input_zero_point;
    const int row_fast = p->dilation_w == 1 && in_x0 >= 0 && in_x0 + k_w <= p->in.w;
    int32_t ky, kx, i;
    for (ky = 0; ky < p->filter.h; ++ky) {
        const int32_t in_y = in_y0 + p->dilation_h * ky;
        if (in_y < 0 || in_y >= p->in.h) {
            for (i = 0; i < k_w * in_c; ++i) {
                col[i] = zp;
            }
        } else if (row_fast) {
            /* the kernel row is one contiguous run of k_w * in_c input bytes */
            const int8_t *src = input + ((b * p->in.h + in_y) * p->in.w + in_x0) * in_c;
            for (i = 0; i < k_w * in_c; ++i) {
                col[i] = src[i];
            }
        } else {
            for (kx = 0; kx < k_w; ++kx) {
                const int32_t in_x = in_x0 + p->dilation_w * kx;
                const int inside = in_x >= 0 && in_x < p->in.w;
                const int8_t *src = input + ((b * p->in.h + in_y) * p->in.w + in_x) * in_c;
                for (i = 0; i < in_c; ++i) {
                    col[kx * in_c + i] = inside ? src[i] : zp;
                }
            }
        }
        col += k_w * in_c;
    }
}

void nb_conv2d(const nb_conv2d_params_t *p, const int8_t *input, const int8_t *filter, const int32_t *bias,
               int8_t *output)
{
    const int32_t out_w = p->out.w, out_c = p->out.c;
    const int32_t K = p->filter.h * p->filter.w * p->filter.c;
    const int32_t n_pos = p->out.h * out_w;
    const int32_t c4 = (out_c + 3) & ~3, k16 = (K + 15) & ~15;
    const int direct = p->filter.h == 1 && p->filter.w == 1 && p->pad_h == 0 && p->pad_w == 0;
    int32_t *start = nb_kernel_scratch;
    int32_t *acc_a = start + c4;
    int32_t *acc_b = acc_a + c4;
    int8_t *col_a = (int8_t *)(void *)(acc_b + c4);
    int8_t *col_b = col_a + k16;
    int32_t b, pos, oc, rq_mode;

    if (p->filter.c != p->in.c || (int32_t)sizeof(nb_kernel_scratch) < 12 * c4 + (direct ? 0 : 2 * k16)) {
        nb_conv2d_ref(p, input, filter, bias, output);
        return;
    }
    /* the shorter requantization pays for its per-call check over several output positions */
    rq_mode = p->out.n * n_pos >= 4 && nb_mve_shifts_nonpos(p->out_shift, out_c) ? -1 : 1;
    for (oc = 0; oc < out_c; ++oc) {
        start[oc] = nb_add_wrap(bias ? bias[oc] : 0, nb_mul_wrap(-p->input_zero_point, nb_mve_sum_s8(filter + oc * K, K)));
    }
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
            nb_mve_gemm_acc(ca, cb, K, filter, start, out_c, acc_a, acc_b);
            nb_mve_requant_row(acc_a, out_c, p->out_multiplier, p->out_shift, rq_mode, p->output_zero_point, p->act_min,
                               p->act_max, out_b + pos * out_c);
            if (two) {
                nb_mve_requant_row(acc_b, out_c, p->out_multiplier, p->out_shift, rq_mode, p->output_zero_point,
                                   p->act_min, p->act_max, out_b + (pos + 1) * out_c);
            }
        }
    }
}
