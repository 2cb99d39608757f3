/* nb_fully_connected.c - int8 FULLY_CONNECTED, see nb_fully_connected.h. */
#include "nb_fully_connected.h"

void nb_fully_connected(const nb_fully_connected_params_t *p, const int8_t *input, const int8_t *filter,
                        const int32_t *bias, int8_t *output)
{
    nb_fully_connected_ref(p, input, filter, bias, output);
}
