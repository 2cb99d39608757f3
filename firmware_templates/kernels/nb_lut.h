/* nb_lut.h - elementwise int8 -> int8 table lookup: out[i] = table[in[i] + 128].
 *
 * For ops whose int8 output depends only on the input byte (LOGISTIC, TANH,
 * int8 -> int8 QUANTIZE) the generator evaluates TFLM's integer pipeline for all
 * 256 inputs (convert/quant_ops.py: logistic_lut, tanh_lut, requantize_lut)
 * and the firmware does one load per element; bit-exact by construction and
 * checked against TFLM in tests/test_kernels_b.py. */
#ifndef NB_LUT_H
#define NB_LUT_H

#include "nb_common.h"

typedef struct {
    int32_t size;         /* number of elements */
    const int8_t *table;  /* 256 entries, indexed by input + 128 */
} nb_lut_params_t;

void nb_lut_i8(const nb_lut_params_t *p, const int8_t *input, int8_t *output);

#endif /* NB_LUT_H */
