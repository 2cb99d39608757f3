/* nb_lut.c - int8 table lookup, see nb_lut.h. */
#include "nb_lut.h"

void nb_lut_i8(const nb_lut_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = p->table[(int32_t)input[i] + 128];
    }
}
