/* nb_conv2d_dsp.c - int8 CONV_2D for Cortex-M4/M7 (DSP extension); defines nb_conv2d (see nb_conv2d.h).
 *
 * Generation-time preparation: the code generator (convert.kernel_variants.prepare_weights) emits the g42
 * stream of every CONV_2D op that takes the g42 path as const data (flash) and passes it in p->prepared
 * (header {NB_DSP_G42_MAGIC, K, c_out, words}, nb_dsp_gemm.h). Such a call prepares nothing: the scratch then
 * holds only the column pair (4 * Kp bytes) or the vertical-pair table. p->prepared NULL (tests, other
 * callers): the stream is prepared per call in the scratch as below.
 *
 * Paths (all bit-exact to nb_conv2d.c / TFLM):
 * - g42 (>= NB_DSP_W16_MIN_POS = 4 output positions per call, full int8 output range, no groups, every
 *   channel's requantization and bias in the exact range of nb_dsp_g42_prepare, a scratch that holds both
 *   this and the nb_conv2d_w16 path (scratch_bytes sizes for both; the check keeps the streaming path's
 *   code as it was)): the filter, start values
 *   (2 * bias with the input zero point folded in) and requantization words are laid out once per call in
 *   nb_kernel_scratch as the g42 stream (nb_dsp_gemm.h); then per pair of output positions one interleaved
 *   column pair of RAW int8 inputs widened to int16 (col2) and one call of the assembly nb_dsp_g42 (4 output
 *   channels x 2 positions per block, requantized in registers; a c_out % 4 tail block in C). Column pairs:
 *   1x1 without padding and c_in % 4 == 0 widen the two pixels (nb_conv2d_pixels2_raw); kernels with
 *   4-byte rows (kw * c_in == 4, e.g. the kws 10x4 1-channel conv0) pair VERTICALLY adjacent positions and
 *   read the pair straight from a per-column table of widened row windows (nb_conv2d_g42_vpairs, when the
 *   scratch has room for it); everything else goes through the pair im2col (nb_conv2d_im2col2). An odd last
 *   position is computed together with its predecessor again.
 *   Scratch: 4 * (ceil4(c_out) / 4 * (20 + 2 * Kp) + Kp) bytes, Kp = ceil8(K), K = kh * kw * c_in
 *   (+ 16 * ((out_h - 1) * stride_h + kh + 1) bytes for the vertical-pair table, used only if it fits);
 *   with a prepared stream only 4 * Kp bytes (or the table: it starts at the scratch start then).
 * - nb_conv2d_w16 (>= 4 positions otherwise, e.g. relu6 clamps): the filter widened to int16 once per call,
 *   im2col of two positions, nb_dsp_gemm_w16 (4 channels x 2 positions, requantization in C).
 *   Scratch: 4 * (ceil4(c_out) * Kp / 2 + 4 * c_out + 2 * Kp) bytes.
 * - streaming calls (< 4 positions, the VAD's 1xN convolutions): im2col of two output positions at a time
 *   into nb_kernel_scratch (int16, input offset added, SXTB16 order), then nb_dsp_gemm (2 positions x 2
 *   output channels with SMLAD; one position: the assembly row-pair loop nb_dsp_dot2x1_rows). 1x1 and 1xN
 *   kernels with c_in % 4 == 0 widen whole pixel rows with SXTB16/SADD16. Scratch: 4 * ceil2(K) + 4 * floor4(K)
 *   bytes.
 * convert.kernel_variants.scratch_bytes sizes the scratch for the first two; grouped convolutions or a too
 * small scratch use the portable loop nest (nb_conv2d_ref). */
#include "nb_conv2d.h"
#include "nb_dsp_gemm.h"
#include "nb_kernel_paths.h"

/* NB_DSP_CONV2D_BLOCKED 0 (nb_kernel_paths.h, written per model by the code generator from
 * convert.kernel_variants.path_switches: no CONV_2D op of the model has >= NB_DSP_W16_MIN_POS output positions
 * per call without groups) compiles the blocked paths (g42, w16) and their helpers out: only the streaming
 * path and the reference loop remain. Default 1: every path. */
#ifndef NB_DSP_CONV2D_BLOCKED
#define NB_DSP_CONV2D_BLOCKED 1
#endif

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

#if NB_DSP_CONV2D_BLOCKED
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
#endif

/* Blocked path (n_pos >= NB_DSP_W16_MIN_POS): widen the filter once (nb_dsp_w16_expand), then per pair of
 * output positions im2col both, interleave, and nb_dsp_gemm_w16 (4 channels x 2 positions per loop). */
#define NB_DSP_W16_MIN_POS 4

#if NB_DSP_CONV2D_BLOCKED

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

/* One int16 value into half `half` of word `word` of col2 (memcpy: no aliasing assumptions). */
static inline void nb_conv2d_put16(int32_t *col2, int32_t word, int32_t half, int32_t v)
{
    const int16_t h = (int16_t)v;
    __builtin_memcpy((char *)(void *)(col2 + word) + 2 * half, &h, 2);
}

/* Longest kernel row (kw * c_in bytes) the g42 im2col copies through a stack buffer (partly padded rows). */
#define NB_CONV2D_ROW_BUF 128

/* im2col of output positions pos_a (column 0) and pos_b (column 1) straight into the interleaved col2 layout
 * of nb_dsp_g42 (slot pair j: words 2j + column), RAW int8 values, padding = the input zero point. Rows with
 * kw * c_in % 4 == 0 are widened a word at a time (a partly padded row through a stack copy), other rows per
 * element. Slots >= K are never written (zero from the caller). */
/* One column (output position with input origin in_y0, in_x0) of a kernel whose rows are kw * c_in % 4 == 0
 * bytes, into every other word of dst (the column's words of col2). A row inside the input (dilation_w 1) is
 * widened from the input; a partly padded row through buf (the inside kx interval copied over in_zp bytes). */
static void nb_conv2d_col_words(const nb_conv2d_params_t *p, const int8_t *in_b, int32_t in_y0, int32_t in_x0,
                                int32_t *dst, int8_t *buf)
{
    const int32_t in_c = p->in.c, k_w = p->filter.w, in_w = p->in.w, in_h = p->in.h, k_h = p->filter.h;
    const int32_t row_len = k_w * in_c, in_row = in_w * in_c, dil_w = p->dilation_w;
    const int32_t step = p->dilation_h * in_row;
    const int8_t zp = (int8_t)p->input_zero_point;
    const int32_t zz = nb_sxtb16((uint32_t)(uint8_t)zp * 0x01010101u);
    const int x_in = dil_w == 1 && in_x0 >= 0 && in_x0 + k_w <= in_w;
    int32_t ky, g, kx, ic, in_y = in_y0, off = in_y0 * in_row;
    for (ky = 0; ky < k_h; ++ky, in_y += p->dilation_h, off += step, dst += row_len) {
        const int8_t *src = buf;
        if ((uint32_t)in_y >= (uint32_t)in_h) {
            for (g = 0; g < row_len; g += 2) {
                dst[g] = zz;
            }
            continue;
        }
        if (x_in) {
            src = in_b + off + in_x0 * in_c;
        } else {
            /* partly padded row: a select per element (no memcpy/memset call for these short runs) */
            for (kx = 0; kx < k_w; ++kx) {
                const int32_t in_x = in_x0 + dil_w * kx;
                const int inside = (uint32_t)in_x < (uint32_t)in_w;
                for (ic = 0; ic < in_c; ++ic) {
                    buf[kx * in_c + ic] = inside ? in_b[off + in_x * in_c + ic] : zp;
                }
            }
        }
        for (g = 0; g < row_len; g += 4) {
            const uint32_t v = nb_read_u32(src + g);
            dst[g] = nb_sxtb16(v);
            dst[g + 2] = nb_sxtb16_ror8(v);
        }
    }
}

/* A 4-byte kernel row (kw * c_in == 4, dilation_w 1, input rows >= 4 bytes): per position the load offset in
 * the row (clamped inside it), the shift that puts its bytes in place and the in_zp bytes of the padding;
 * k_h rows (dilation_h apart) from in_y0 into dst[4 ky], dst[4 ky + 2]. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void nb_conv2d_col_words4(const nb_conv2d_params_t *p, const int8_t *in_b, int32_t in_y0, int32_t in_x0,
                                 int32_t k_h, int32_t *dst)
{
    const int32_t in_c = p->in.c, in_h = p->in.h, in_row = p->in.w * in_c;
    const int32_t dil_h = p->dilation_h, step = dil_h * in_row;
    const uint32_t zp4 = (uint32_t)(uint8_t)p->input_zero_point * 0x01010101u;
    const int32_t zz = nb_sxtb16(zp4);
    int32_t x = in_x0 * in_c, ky_lo = 0, ky_hi = k_h, n;
    const int8_t *src;
    uint32_t fill = 0;
    int sl = 0, sr = 0;
    if (x < 0) { /* left padding: the row's first 4 bytes shifted up by -x bytes */
        sl = -8 * x;
        fill = zp4 >> (32 - sl);
        x = 0;
    } else if (x + 4 > in_row) { /* right padding: the row's last 4 bytes shifted down */
        sr = 8 * (x + 4 - in_row);
        fill = zp4 << (32 - sr);
        x = in_row - 4;
    }
    /* rows ky_lo..ky_hi - 1 lie inside the input */
    while (ky_lo < k_h && in_y0 + dil_h * ky_lo < 0) {
        ++ky_lo;
    }
    while (ky_hi > ky_lo && in_y0 + dil_h * (ky_hi - 1) >= in_h) {
        --ky_hi;
    }
    for (n = 0; n < ky_lo; ++n) {
        dst[0] = zz;
        dst[2] = zz;
        dst += 4;
    }
    src = in_b + (in_y0 + dil_h * ky_lo) * in_row + x;
    n = ky_hi - ky_lo;
    if (sl == 0 && sr == 0) {
        for (; n > 0; --n) {
            const uint32_t v = nb_read_u32(src);
            src += step;
            dst[0] = nb_sxtb16(v);
            dst[2] = nb_sxtb16_ror8(v);
            dst += 4;
        }
    } else {
        for (; n > 0; --n) {
            const uint32_t v = ((nb_read_u32(src) << sl) >> sr) | fill;
            src += step;
            dst[0] = nb_sxtb16(v);
            dst[2] = nb_sxtb16_ror8(v);
            dst += 4;
        }
    }
    for (n = ky_hi; n < k_h; ++n) {
        dst[0] = zz;
        dst[2] = zz;
        dst += 4;
    }
}

#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void nb_conv2d_im2col2(const nb_conv2d_params_t *p, const int8_t *input, int32_t b, int32_t pos_a,
                              int32_t pos_b, int32_t *col2)
{
    const int32_t in_c = p->in.c, k_h = p->filter.h, k_w = p->filter.w, out_w = p->out.w, in_w = p->in.w;
    const int32_t in_h = p->in.h, dil_h = p->dilation_h, dil_w = p->dilation_w;
    const int32_t row_len = k_w * in_c;
    const int32_t K = k_h * row_len, k4 = K & ~3;
    const int32_t in_row = in_w * in_c;
    const int8_t *in_b = input + b * in_h * in_row;
    int8_t buf[NB_CONV2D_ROW_BUF];
    int32_t c, ky, kx, ic;
    for (c = 0; c < 2; ++c) {
        const int32_t pos = c ? pos_b : pos_a, oy = pos / out_w, ox = pos - oy * out_w;
        const int32_t in_y0 = oy * p->stride_h - p->pad_h, in_x0 = ox * p->stride_w - p->pad_w;
        if (row_len == 4 && dil_w == 1 && in_row >= 4 && in_x0 * in_c > -4 && in_x0 * in_c < in_row) {
            nb_conv2d_col_words4(p, in_b, in_y0, in_x0, k_h, col2 + c);
            continue;
        }
        if ((row_len & 3) == 0 && row_len <= NB_CONV2D_ROW_BUF) {
            nb_conv2d_col_words(p, in_b, in_y0, in_x0, col2 + c, buf);
            continue;
        }
        for (ky = 0; ky < k_h; ++ky) {
            const int32_t in_y = in_y0 + dil_h * ky;
            const int inside_y = in_y >= 0 && in_y < in_h;
            for (kx = 0; kx < k_w; ++kx) {
                const int32_t in_x = in_x0 + dil_w * kx;
                const int inside = inside_y && in_x >= 0 && in_x < in_w;
                for (ic = 0; ic < in_c; ++ic) {
                    const int32_t slot = nb_dsp_slot((ky * k_w + kx) * in_c + ic, k4);
                    nb_conv2d_put16(col2, 2 * (slot >> 1) + c, slot & 1,
                                    inside ? in_b[in_y * in_row + in_x * in_c + ic] : p->input_zero_point);
                }
            }
        }
    }
}

/* 1x1 kernel without padding, c_in % 4 == 0: the raw pixels of positions a and b into col2 (g42 layout). */
static void nb_conv2d_pixels2_raw(const int8_t *px_a, const int8_t *px_b, int32_t in_c, int32_t *col2)
{
    int32_t *const end = col2 + in_c;
#if NB_DSP_NATIVE && defined(__thumb2__)
    if (in_c >= 8) { /* two groups per iteration: 4 single loads in a run, two STM of 4 words */
        int32_t *const end8 = col2 + (in_c & ~7);
        uint32_t va, vb, vc, vd;
        /* STM stores in register-number order: the four results in ascending registers */
        register int32_t t0 __asm__("r4");
        register int32_t t1 __asm__("r5");
        register int32_t t2 __asm__("r6");
        register int32_t t3 __asm__("r8"); /* not r7: the Thumb frame pointer at -O0 */
        __asm__ volatile(
            "1:\n"
            "    ldr %[va], [%[pa]], #4\n"
            "    ldr %[vb], [%[pb]], #4\n"
            "    ldr %[vc], [%[pa]], #4\n"
            "    ldr %[vd], [%[pb]], #4\n"
            "    sxtb16 %[t0], %[va]\n"
            "    sxtb16 %[t1], %[vb]\n"
            "    sxtb16 %[t2], %[va], ror #8\n"
            "    sxtb16 %[t3], %[vb], ror #8\n"
            "    stm %[c]!, {%[t0], %[t1], %[t2], %[t3]}\n"
            "    sxtb16 %[t0], %[vc]\n"
            "    sxtb16 %[t1], %[vd]\n"
            "    sxtb16 %[t2], %[vc], ror #8\n"
            "    sxtb16 %[t3], %[vd], ror #8\n"
            "    stm %[c]!, {%[t0], %[t1], %[t2], %[t3]}\n"
            "    cmp %[c], %[e]\n"
            "    bne 1b\n"
            : [pa] "+r"(px_a), [pb] "+r"(px_b), [c] "+r"(col2), [va] "=&r"(va), [vb] "=&r"(vb), [vc] "=&r"(vc),
              [vd] "=&r"(vd), [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3)
            : [e] "r"(end8)
            : "cc", "memory");
    }
#endif
    while (col2 != end) {
        const uint32_t va = nb_read_u32(px_a), vb = nb_read_u32(px_b);
        px_a += 4;
        px_b += 4;
        col2[0] = nb_sxtb16(va);
        col2[1] = nb_sxtb16(vb);
        col2[2] = nb_sxtb16_ror8(va);
        col2[3] = nb_sxtb16_ror8(vb);
        col2 += 4;
    }
}

/* nb_dsp_g42_prepare in a function of its own (its own register allocation). */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int nb_conv2d_g42_prepare(const nb_conv2d_params_t *p, const int8_t *filter, const int32_t *bias,
                                 int32_t *stream)
{
    return nb_dsp_g42_prepare(filter, p->filter.h * p->filter.w * p->filter.c, bias, p->out.c, p->out_multiplier,
                              p->out_shift, 1, p->input_zero_point, p->output_zero_point, stream);
}

/* Scratch bytes of the g42 path: stream + one interleaved column pair. */
static int32_t nb_conv2d_g42_need(int32_t K, int32_t out_c)
{
    return 4 * (nb_dsp_g42_words(K, out_c) + nb_dsp_kp(K));
}

/* Vertical pairs (4-byte kernel rows, dilation 1, >= 2 output rows): per output column ox a table T of the
 * widened windows of all input rows, entry t = {W(y).02, W(y + s).02, W(y).13, W(y + s).13} with
 * y = t - pad_h, s = stride_h; the column pair of positions (oy, ox), (oy + 1, ox) is then T[oy * s ..]
 * itself (no im2col per pair). T entries: (out_h - 2) * s + kh, plus one for the Kp - K padding slots, plus
 * s of room (the a-halves are built s entries further, the b-halves copied from there).
 * An odd last output row is left to the horizontal pairs. */
static int32_t nb_conv2d_vpairs_entries(const nb_conv2d_params_t *p)
{
    return (p->out.h - 2) * p->stride_h + p->filter.h + 1;
}

static int nb_conv2d_vpairs(const nb_conv2d_params_t *p, int32_t stream_bytes)
{
    const int32_t in_c = p->in.c, in_row = p->in.w * in_c;
    const int32_t x_first = -p->pad_w * in_c, x_last = ((p->out.w - 1) * p->stride_w - p->pad_w) * in_c;
    return p->filter.w * in_c == 4 && p->dilation_h == 1 && p->dilation_w == 1 && p->out.h >= 2 && in_row >= 4 &&
           x_first > -4 && x_last < in_row &&
           (int32_t)sizeof(nb_kernel_scratch) >= stream_bytes + 16 * (nb_conv2d_vpairs_entries(p) + p->stride_h);
}

#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void nb_conv2d_g42_vpairs(const nb_conv2d_params_t *p, const int8_t *input, const int32_t *stream,
                                 int32_t *T, nb_dsp_g42_frame_t *f, int8_t *output)
{
    const int32_t out_c = p->out.c, out_w = p->out.w, out_h = p->out.h, s = p->stride_h;
    const int32_t K = p->filter.h * p->filter.w * p->filter.c, nfull = out_c >> 2;
    const int32_t n_t = nb_conv2d_vpairs_entries(p), in_img = p->in.h * p->in.w * p->in.c;
    const int32_t row_out = out_w * out_c;
    int32_t b, ox, oy;
    for (b = 0; b < p->out.n; ++b) {
        const int8_t *in_b = input + b * in_img;
        int8_t *out_b = output + b * out_h * row_out;
        for (ox = 0; ox < out_w; ++ox) {
            const int32_t in_x0 = ox * p->stride_w - p->pad_w;
            int32_t t;
            /* the windows of rows -pad_h .. -pad_h + n_t - 2 + s in words 0, 2 of T[0 .. n_t - 2 + s] (T has
             * n_t + s entries' room, see nb_conv2d_vpairs), then each entry's words 1, 3 = words 0, 2 of the
             * entry s further on */
            nb_conv2d_col_words4(p, in_b, -p->pad_h, in_x0, n_t - 1 + s, T);
            for (t = 0; t < n_t - 1; ++t) {
                T[4 * t + 1] = T[4 * (t + s)];
                T[4 * t + 3] = T[4 * (t + s) + 2];
            }
            T[4 * t] = T[4 * t + 1] = T[4 * t + 2] = T[4 * t + 3] = 0; /* entry n_t - 1: the Kp - K slots */
            for (oy = 0; oy + 1 < out_h; oy += 2) {
                const int32_t a = oy;
                const int32_t *col2 = T + 4 * a * s;
                int8_t *oa = out_b + a * row_out + ox * out_c;
                nb_dsp_g42_frame(f, col2, K, stream, nfull);
                f->out_a = oa;
                f->out_b = oa + row_out;
                if (nfull > 0) {
                    nb_dsp_g42(stream, f);
                }
                if (4 * nfull < out_c) {
                    nb_dsp_g42_tail(col2, stream, K, nfull, out_c, oa, oa + row_out);
                }
            }
        }
    }
}

/* The g42 path (nb_dsp_gemm.h): full int8 output range, >= 2 positions; returns 0 (nothing written) when a
 * channel's bias or requantization is outside its exact range. An odd last position is computed with its
 * predecessor again (same bytes written twice). pre: the stream prepared at generation time (then the scratch
 * holds only the column pair / the vertical-pair table), or NULL: prepared here, in the scratch. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int nb_conv2d_g42(const nb_conv2d_params_t *p, const int8_t *input, const int8_t *filter,
                         const int32_t *bias, const int32_t *pre, int8_t *output)
{
    const int32_t out_c = p->out.c, in_c = p->in.c;
    const int32_t K = p->filter.h * p->filter.w * p->filter.c, kp = nb_dsp_kp(K);
    const int32_t n_pos = p->out.h * p->out.w, nfull = out_c >> 2;
    const int direct = p->filter.h == 1 && p->filter.w == 1 && p->pad_h == 0 && p->pad_w == 0 && (K & 3) == 0;
    const int32_t sh = p->stride_h * p->in.w * in_c, sw = p->stride_w * in_c, out_w = p->out.w;
    const int32_t stream_words = pre != NULL ? 0 : nb_dsp_g42_words(K, out_c);
    const int32_t *stream = pre != NULL ? pre : nb_kernel_scratch;
    int32_t *col2 = nb_kernel_scratch + stream_words;
    nb_dsp_g42_frame_t f;
    int32_t b, pos, k, first = 0;
    if (pre == NULL && !nb_conv2d_g42_prepare(p, filter, bias, nb_kernel_scratch)) {
        return 0;
    }
    nb_dsp_g42_frame(&f, col2, K, stream, nfull);
    for (k = 0; k < kp; ++k) {
        col2[k] = 0;
    }
    if (!direct && nb_conv2d_vpairs(p, 4 * stream_words)) {
        nb_conv2d_g42_vpairs(p, input, stream, col2, &f, output);
        if ((p->out.h & 1) == 0) {
            return 1;
        }
        for (k = 0; k < kp; ++k) {
            col2[k] = 0;
        }
        nb_dsp_g42_frame(&f, col2, K, stream, nfull);
        first = n_pos - p->out.w; /* the odd last output row */
    }
    for (b = 0; b < p->out.n; ++b) {
        const int8_t *in_b = input + b * p->in.h * p->in.w * in_c;
        int8_t *out_b = output + b * n_pos * out_c;
        int32_t oy_pos = 0, oy_off = 0; /* first position and input offset of the output row of pa */
        for (pos = first; pos < n_pos; pos += 2) {
            /* an odd last position: alone (nb_dsp_g41) when one pass of the body covers K, else again with
             * its predecessor */
            const int one = pos + 1 == n_pos && kp <= 64;
            const int32_t pa = pos + 1 < n_pos || one ? pos : n_pos - 2, pb = one ? pa : pa + 1;
            if (direct) {
                /* pixel offsets of positions pa, pb: (pos / out_w) * sh + (pos % out_w) * sw, no division */
                while (oy_pos + out_w <= pa) {
                    oy_pos += out_w;
                    oy_off += sh;
                }
                {
                    const int32_t xa = pa - oy_pos, xb = pb - oy_pos;
                    const int32_t off_b = xb < out_w ? oy_off + xb * sw : oy_off + sh + (xb - out_w) * sw;
                    nb_conv2d_pixels2_raw(in_b + oy_off + xa * sw, in_b + off_b, in_c, col2);
                }
            } else {
                nb_conv2d_im2col2(p, input, b, pa, pb, col2);
            }
            f.out_a = out_b + pa * out_c;
            f.out_b = out_b + pb * out_c;
            if (nfull > 0 && !(one && nb_dsp_g41(stream, &f))) {
                nb_dsp_g42(stream, &f);
            }
            if (4 * nfull < out_c) {
                nb_dsp_g42_tail(col2, stream, K, nfull, out_c, out_b + pa * out_c, out_b + pb * out_c);
            }
        }
    }
    return 1;
}

/* The blocked paths (>= NB_DSP_W16_MIN_POS positions, no groups): g42 with the stream prepared at generation
 * time (p->prepared, full output range: the scratch holds only a column pair, 4 * Kp bytes); else, with a
 * scratch >= nb_conv2d_w16_need (the g42 path needs about as much, convert.kernel_variants.scratch_bytes
 * sizes for both), g42 with the stream prepared per call when it applies, else nb_conv2d_w16. Returns 0
 * (nothing written) when none applies. Kept out of nb_conv2d (the register allocation of the streaming calls'
 * loop). */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int nb_conv2d_blocked(const nb_conv2d_params_t *p, const int8_t *input, const int8_t *filter,
                             const int32_t *bias, int8_t *output)
{
    const int32_t K = p->filter.h * p->filter.w * p->filter.c, out_c = p->out.c;
    const int full = p->act_min == NB_INT8_MIN && p->act_max == NB_INT8_MAX;
    const int32_t *pre = full ? nb_dsp_g42_prepared(p->prepared, K, out_c) : NULL;
    if (pre != NULL && (int32_t)sizeof(nb_kernel_scratch) >= 4 * nb_dsp_kp(K)) {
        return nb_conv2d_g42(p, input, filter, bias, pre, output);
    }
    if ((int32_t)sizeof(nb_kernel_scratch) < nb_conv2d_w16_need(K, out_c)) {
        return 0;
    }
    if (full && (int32_t)sizeof(nb_kernel_scratch) >= nb_conv2d_g42_need(K, out_c) &&
        nb_conv2d_g42(p, input, filter, bias, NULL, output)) {
        return 1;
    }
    nb_conv2d_w16(p, input, filter, bias, output);
    return 1;
}

#endif /* NB_DSP_CONV2D_BLOCKED */

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

#if NB_DSP_CONV2D_BLOCKED
    if (p->filter.c == p->in.c && n_pos >= NB_DSP_W16_MIN_POS &&
        (p->prepared != NULL || (int32_t)sizeof(nb_kernel_scratch) >= nb_conv2d_w16_need(K, out_c)) &&
        nb_conv2d_blocked(p, input, filter, bias, output)) {
        return;
    }
#endif
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
