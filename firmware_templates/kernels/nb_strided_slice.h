/* nb_strided_slice.h - int8 STRIDED_SLICE over up to 4 dimensions, bit-exact to TFLM
 * reference_ops::StridedSlice. Begin/end/stride and the masks are resolved offline
 * (convert/quant.py:strided_slice_params, = TFLite StartForAxis/StopForAxis) into a
 * per-dimension start, stop (exclusive, may be -1 for negative strides) and stride.
 * Leading dims are padded with shape 1, start 0, stop 1, stride 1. */
#ifndef NB_STRIDED_SLICE_H
#define NB_STRIDED_SLICE_H

#include "nb_common.h"

typedef struct {
    int32_t in_shape[4];
    int32_t start[4];
    int32_t stop[4];
    int32_t stride[4];   /* non-zero */
} nb_strided_slice_params_t;

void nb_strided_slice(const nb_strided_slice_params_t *p, const int8_t *input, int8_t *output);

#endif /* NB_STRIDED_SLICE_H */
