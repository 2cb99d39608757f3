/* nb_reshape.h - int8 RESHAPE: a byte copy (same quantization in and out).
 * No-op when input == output (the memory planner may alias them). */
#ifndef NB_RESHAPE_H
#define NB_RESHAPE_H

#include "nb_common.h"

void nb_reshape(const int8_t *input, int8_t *output, int32_t size);

#endif /* NB_RESHAPE_H */
