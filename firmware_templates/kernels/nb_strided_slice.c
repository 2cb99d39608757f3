/* nb_strided_slice.c - int8 STRIDED_SLICE, see nb_strided_slice.h. */
#include "nb_strided_slice.h"

static int nb_slice_done(int32_t index, int32_t stop, int32_t stride)
{
    return stride > 0 ? index >= stop : index <= stop;
}

/* Copy n bytes (non-overlapping), 4 bytes per step (unaligned-safe word moves, no C library call). */
static void nb_slice_copy(int8_t *dst, const int8_t *src, int32_t n)
{
    int32_t k = 0;
    for (; k + 8 <= n; k += 8) {
        uint32_t a, b;
        __builtin_memcpy(&a, src + k, 4);
        __builtin_memcpy(&b, src + k + 4, 4);
        __builtin_memcpy(dst + k, &a, 4);
        __builtin_memcpy(dst + k + 4, &b, 4);
    }
    for (; k < n; ++k) {
        dst[k] = src[k];
    }
}

void nb_strided_slice(const nb_strided_slice_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t *s = p->in_shape;
    int32_t i0, i1, i2, i3;
    if (p->stride[3] == 1) {
        /* fast path: the innermost dimension is a contiguous run of (stop - start) bytes */
        const int32_t run = p->stop[3] > p->start[3] ? p->stop[3] - p->start[3] : 0;
        if (run == 0) {
            return;
        }
        if (p->stride[2] == 1 && p->start[3] == 0 && run == s[3]) {
            /* ... and whole rows of dim 2 are contiguous too: one run per (i0, i1) */
            const int32_t rows = p->stop[2] > p->start[2] ? p->stop[2] - p->start[2] : 0;
            if (rows == 0) {
                return;
            }
            for (i0 = p->start[0]; !nb_slice_done(i0, p->stop[0], p->stride[0]); i0 += p->stride[0]) {
                for (i1 = p->start[1]; !nb_slice_done(i1, p->stop[1], p->stride[1]); i1 += p->stride[1]) {
                    nb_slice_copy(output, input + ((i0 * s[1] + i1) * s[2] + p->start[2]) * s[3], rows * run);
                    output += rows * run;
                }
            }
            return;
        }
        for (i0 = p->start[0]; !nb_slice_done(i0, p->stop[0], p->stride[0]); i0 += p->stride[0]) {
            for (i1 = p->start[1]; !nb_slice_done(i1, p->stop[1], p->stride[1]); i1 += p->stride[1]) {
                for (i2 = p->start[2]; !nb_slice_done(i2, p->stop[2], p->stride[2]); i2 += p->stride[2]) {
                    nb_slice_copy(output, input + ((i0 * s[1] + i1) * s[2] + i2) * s[3] + p->start[3], run);
                    output += run;
                }
            }
        }
        return;
    }
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
