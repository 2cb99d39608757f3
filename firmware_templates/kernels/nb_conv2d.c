/* nb_conv2d.c - int8 CONV_2D, see nb_conv2d.h. */
#include "nb_conv2d.h"

void nb_conv2d(const nb_conv2d_params_t *p, const int8_t *input, const int8_t *filter,
               const int32_t *bias, int8_t *output)
{
    nb_conv2d_ref(p, input, filter, bias, output);
}
