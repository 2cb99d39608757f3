/* nb_fully_connected_dsp.c - int8 FULLY_CONNECTED for Cortex-M4/M7 (DSP extension); defines
 * nb_fully_connected (see nb_fully_connected.h).
 *
 * Each input row is widened once to int16 (+ input offset, SXTB16 order) into nb_kernel_scratch, two rows
 * at a time, then nb_dsp_gemm (SMLAD). Scratch: 4 * ceil2(K) + 4 * floor4(K) bytes, K = accum_depth. A non-zero filter zero
 * point or a too small scratch uses the portable loop. Bit-exact to nb_fully_connected.c. */
#include "nb_fully_connected.h"
#include "nb_dsp_gemm.h"

static void nb_fc_widen(const int8_t *row, int32_t K, int32_t offset, int16_t *col)
{
    const int32_t k4 = K & ~3;
    int32_t k;
    nb_dsp_widen_reordered(row, k4, offset, col);
    for (k = k4; k < K; ++k) {
        col[k] = (int16_t)((int32_t)row[k] + offset);
    }
}

void nb_fully_connected(const nb_fully_connected_params_t *p, const int8_t *input, const int8_t *filter,
                        const int32_t *bias, int8_t *output)
{
    const int32_t K = p->accum_depth, n_out = p->out_depth;
    const int32_t col_stride = (K + 1) & ~1;
    int16_t *col_a = (int16_t *)(void *)nb_kernel_scratch;
    int16_t *col_b = col_a + col_stride;
    int32_t *col_ab = (int32_t *)(void *)(col_b + col_stride);
    const int32_t offset = -p->input_zero_point;
    int32_t b;

    if (p->filter_zero_point != 0 || (int32_t)sizeof(nb_kernel_scratch) < 4 * col_stride + 4 * (K & ~3)) {
        nb_fully_connected_ref(p, input, filter, bias, output);
        return;
    }
    for (b = 0; b + 1 < p->batches; b += 2) {
        nb_fc_widen(input + b * K, K, offset, col_a);
        nb_fc_widen(input + (b + 1) * K, K, offset, col_b);
        nb_dsp_gemm(col_a, col_b, col_ab, K, filter, bias, n_out, p->out_multiplier, p->out_shift, p->per_channel,
                    p->output_zero_point, p->act_min, p->act_max, output + b * n_out, output + (b + 1) * n_out);
    }
    if (b < p->batches) {
        nb_fc_widen(input + b * K, K, offset, col_a);
        nb_dsp_gemm(col_a, NULL, NULL, K, filter, bias, n_out, p->out_multiplier, p->out_shift, p->per_channel,
                    p->output_zero_point, p->act_min, p->act_max, output + b * n_out, NULL);
    }
}
