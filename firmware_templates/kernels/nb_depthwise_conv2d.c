/* nb_depthwise_conv2d.c - int8 DEPTHWISE_CONV_2D, see nb_depthwise_conv2d.h. */
#include "nb_depthwise_conv2d.h"

void nb_depthwise_conv2d(const nb_depthwise_conv2d_params_t *p, const int8_t *input, const int8_t *filter,
                         const int32_t *bias, int8_t *output)
{
    nb_depthwise_conv2d_ref(p, input, filter, bias, output);
}
