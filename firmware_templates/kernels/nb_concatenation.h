/* nb_concatenation.h - int8 CONCATENATION (inputs and output share quantization,
 * which TFLM requires for int8), bit-exact to TFLM reference_ops::Concatenation.
 * outer_size = product of dims before the axis, inner_size = product after it. */
#ifndef NB_CONCATENATION_H
#define NB_CONCATENATION_H

#include "nb_common.h"

typedef struct {
    int32_t num_inputs;
    const int32_t *axis_sizes;  /* [num_inputs]: each input's size along the axis */
    int32_t outer_size;
    int32_t inner_size;
} nb_concatenation_params_t;

void nb_concatenation(const nb_concatenation_params_t *p, const int8_t *const *inputs, int8_t *output);

#endif /* NB_CONCATENATION_H */
