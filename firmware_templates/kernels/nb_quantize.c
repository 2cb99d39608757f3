/* nb_quantize.c - QUANTIZE, see nb_quantize.h. */
#include "nb_quantize.h"

/* static_cast<int32_t>(std::round(v)) for finite |v| < 2^31, saturated outside,
 * without libm: truncate, then add one when the dropped fraction is >= 1/2
 * (the subtraction is exact for float). */
static int32_t nb_round_f32_to_i32(float v)
{
    const float limit = 2147483648.0f; /* 2^31 */
    if (!(v == v)) {
        return INT32_MIN; /* NaN */
    }
    if (v >= limit) {
        return INT32_MAX;
    }
    if (v <= -limit) {
        return INT32_MIN;
    }
    if (v >= 0.0f) {
        int32_t t = (int32_t)v;
        if (v - (float)t >= 0.5f && t < INT32_MAX) {
            ++t;
        }
        return t;
    } else {
        int32_t t = (int32_t)v;
        if ((float)t - v >= 0.5f && t > INT32_MIN) {
            --t;
        }
        return t;
    }
}

void nb_quantize_f32(const nb_quantize_params_t *p, const float *input, int8_t *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t r = nb_round_f32_to_i32(input[i] / p->scale);
        /* saturating add of the zero point (r may be near the int32 limits) */
        const int64_t q = (int64_t)r + p->zero_point;
        output[i] = (int8_t)(q < NB_INT8_MIN ? NB_INT8_MIN : (q > NB_INT8_MAX ? NB_INT8_MAX : q));
    }
}

void nb_requantize_i8(const nb_requantize_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t x = (int32_t)input[i] - p->input_zero_point;
        output[i] = nb_sat_i8(nb_multiply_by_quantized_multiplier(x, p->multiplier, (int)p->shift)
                              + p->output_zero_point);
    }
}
