/* nb_concatenation.c - int8 CONCATENATION, see nb_concatenation.h. */
#include "nb_concatenation.h"

void nb_concatenation(const nb_concatenation_params_t *p, const int8_t *const *inputs, int8_t *output)
{
    int32_t o, i, k;
    for (o = 0; o < p->outer_size; ++o) {
        for (i = 0; i < p->num_inputs; ++i) {
            const int32_t n = p->axis_sizes[i] * p->inner_size;
            const int8_t *src = inputs[i] + o * n;
            for (k = 0; k < n; ++k) {
                *output++ = src[k];
            }
        }
    }
}
