/* nb_strided_slice.c - int8 STRIDED_SLICE, see nb_strided_slice.h. */
#include "nb_strided_slice.h"

static int nb_slice_done(int32_t index, int32_t stop, int32_t stride)
{
    return stride > 0 ? index >= stop : index <= stop;
}

void nb_strided_slice(const nb_strided_slice_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t *s = p->in_shape;
    int32_t i0, i1, i2, i3;
    for (i0 = p->start[0]; !nb_slice_done(i0, p->stop[0], p->stride[0]); i0 += p->stride[0]) {
        for (i1 = p->start[1]; !nb_slice_done(i1, p->stop[1], p->stride[1]); i1 += p->stride[1]) {
            for (i2 = p->start[2]; !nb_slice_done(i2, p->stop[2], p->stride[2]); i2 += p->stride[2]) {
                for (i3 = p->start[3]; !nb_slice_done(i3, p->stop[3], p->stride[3]); i3 += p->stride[3]) {
                    *output++ = input[((i0 * s[1] + i1) * s[2] + i2) * s[3] + i3];
                }
            }
        }
    }
}
