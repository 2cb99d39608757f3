/* nb_fully_connected_mve.c - int8 FULLY_CONNECTED for Cortex-M55 (MVE / Helium); defines
 * nb_fully_connected (see nb_fully_connected.h).
 *
 * VMLADAVA int8 dot products on the input rows in place (two rows x two filter rows per loop), the input
 * offset term (-input_zp) * sum(w) summed in the same pass (nb_mve_gemm_fused: each weight chunk loaded
 * once per pair of input rows), vectorized requantization. Scratch: 8 * ceil4(out_depth) bytes (two
 * accumulator rows; kernel_variants.scratch_bytes keeps 12 *). A non-zero filter zero point or a too small
 * scratch uses the portable loop. Bit-exact to nb_fully_connected.c. */
#include "nb_fully_connected.h"
#include "nb_mve.h"

void nb_fully_connected(const nb_fully_connected_params_t *p, const int8_t *input, const int8_t *filter,
                        const int32_t *bias, int8_t *output)
{
    const int32_t K = p->accum_depth, n_out = p->out_depth;
    const int32_t c4 = (n_out + 3) & ~3;
    int32_t *acc_a = nb_kernel_scratch;
    int32_t *acc_b = acc_a + c4;
    int32_t b;

    if (p->filter_zero_point != 0 || (int32_t)sizeof(nb_kernel_scratch) < 8 * c4) {
        nb_fully_connected_ref(p, input, filter, bias, output);
        return;
    }
    for (b = 0; b < p->batches; b += 2) {
        const int two = b + 1 < p->batches;
        nb_mve_gemm_fused(input + b * K, two ? input + (b + 1) * K : NULL, K, filter, bias, p->input_zero_point,
                          n_out, acc_a, acc_b);
        nb_mve_requant_row(acc_a, n_out, p->out_multiplier, p->out_shift, p->per_channel, p->output_zero_point,
                           p->act_min, p->act_max, output + b * n_out);
        if (two) {
            nb_mve_requant_row(acc_b, n_out, p->out_multiplier, p->out_shift, p->per_channel, p->output_zero_point,
                               p->act_min, p->act_max, output + (b + 1) * n_out);
        }
    }
}
