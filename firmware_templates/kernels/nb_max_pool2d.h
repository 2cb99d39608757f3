/* nb_max_pool2d.h - int8 MAX_POOL_2D, bit-exact to TFLM reference_integer_ops::MaxPool
 * (window clipped to the image, then the fused activation clamp). */
#ifndef NB_MAX_POOL2D_H
#define NB_MAX_POOL2D_H

#include "nb_common.h"
#include "nb_avg_pool2d.h"

typedef nb_pool2d_params_t nb_max_pool2d_params_t;

void nb_max_pool2d(const nb_max_pool2d_params_t *p, const int8_t *input, int8_t *output);

#endif /* NB_MAX_POOL2D_H */
