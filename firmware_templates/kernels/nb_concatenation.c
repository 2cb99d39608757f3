/* nb_concatenation.c - int8 CONCATENATION, see nb_concatenation.h. */
#include "nb_concatenation.h"

/* Copy n bytes (non-overlapping): 4 bytes per step through unaligned-safe word moves (LDR/STR on
 * Cortex-M; __builtin_memcpy of a constant 4 keeps C99 legal), no call into the C library. */
static void nb_concat_copy(int8_t *dst, const int8_t *src, int32_t n)
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

void nb_concatenation(const nb_concatenation_params_t *p, const int8_t *const *inputs, int8_t *output)
{
    int32_t o, i;
    for (o = 0; o < p->outer_size; ++o) {
        for (i = 0; i < p->num_inputs; ++i) {
            const int32_t n = p->axis_sizes[i] * p->inner_size;
            nb_concat_copy(output, inputs[i] + o * n, n);
            output += n;
        }
    }
}
