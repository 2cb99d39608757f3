/*
 * nb_fixedpoint.h - gemmlowp fixed-point transcendental helpers used by the
 * int8 SOFTMAX, LOGISTIC and TANH kernels (KERNELS-B).
 *
 * Portable C99, header only, integer only. Every function reproduces the
 * gemmlowp (fixedpoint.h) routine that the TFLite Micro reference kernels call,
 * operation for operation, so results are bit-exact:
 *
 *   nb_fp_sat_rounding_mul_pot(x, e)   SaturatingRoundingMultiplyByPOT<e>
 *   nb_fp_exp_on_negative_values(a, i) exp_on_negative_values(FixedPoint<int32, i>)
 *   nb_fp_one_over_one_plus_x(a)       one_over_one_plus_x_for_x_in_0_1
 *   nb_fp_one_minus_x_over_one_plus_x(a)
 *   nb_fp_logistic_q4(a)               logistic(FixedPoint<int32, 4>)
 *   nb_fp_tanh_q4(a)                   tanh(FixedPoint<int32, 4>)
 *   nb_fp_get_reciprocal(x, digits, &n) tflite::GetReciprocal
 *
 * A raw value with I integer bits represents raw / 2^(31 - I). Additions wrap
 * (two's complement) where gemmlowp uses a plain int32 add; for every input the
 * TFLM kernels can produce they do not overflow, the wrap only keeps UBSan quiet.
 */
#ifndef NB_FIXEDPOINT_H
#define NB_FIXEDPOINT_H

#include "nb_common.h"

#ifdef __cplusplus
extern "C" {
#endif

static inline int32_t nb_fp_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
static inline int32_t nb_fp_sub(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }
static inline int32_t nb_fp_neg(int32_t a) { return (int32_t)(0u - (uint32_t)a); }
static inline int32_t nb_fp_mul(int32_t a, int32_t b) { return nb_sat_rounding_doubling_high_mul(a, b); }

/* SaturatingRoundingMultiplyByPOT<exponent>: saturating left shift for
 * exponent > 0, rounding right shift for exponent < 0. |exponent| <= 30. */
static inline int32_t nb_fp_sat_rounding_mul_pot(int32_t x, int exponent)
{
    if (exponent > 0) {
        const int32_t threshold = (int32_t)((1u << (31 - exponent)) - 1u);
        if (x > threshold) {
            return INT32_MAX;
        }
        if (x < -threshold) {
            return INT32_MIN;
        }
        return nb_shl_wrap(x, exponent);
    }
    if (exponent < 0) {
        return nb_rounding_divide_by_pot(x, -exponent);
    }
    return x;
}

/* exp(a) for a in [-1/4, 0), a and result with 0 integer bits. */
static inline int32_t nb_fp_exp_on_interval_neg_quarter_to_0(int32_t a)
{
    const int32_t constant_term = 1895147668;   /* exp(-1/8) */
    const int32_t constant_1_over_3 = 715827883; /* 1/3 */
    const int32_t x = nb_fp_add(a, (int32_t)1 << 28); /* a + 1/8 */
    const int32_t x2 = nb_fp_mul(x, x);
    const int32_t x3 = nb_fp_mul(x2, x);
    const int32_t x4 = nb_fp_mul(x2, x2);
    const int32_t x4_over_4 = nb_fp_sat_rounding_mul_pot(x4, -2);
    const int32_t poly = nb_fp_sat_rounding_mul_pot(
        nb_fp_add(nb_fp_mul(nb_fp_add(x4_over_4, x3), constant_1_over_3), x2), -1);
    return nb_fp_add(constant_term, nb_fp_mul(constant_term, nb_fp_add(x, poly)));
}

/* exp(a) for a <= 0; a has `integer_bits` integer bits (1..30), result 0. */
static inline int32_t nb_fp_exp_on_negative_values(int32_t a, int integer_bits)
{
    static const int32_t multipliers[7] = {
        1672461947, /* exp(-1/4) */
        1302514674, /* exp(-1/2) */
        790015084,  /* exp(-1)   */
        290630308,  /* exp(-2)   */
        39332535,   /* exp(-4)   */
        720401,     /* exp(-8)   */
        242         /* exp(-16)  */
    };
    const int fractional_bits = 31 - integer_bits;
    const int32_t one_quarter = (int32_t)1 << (fractional_bits - 2);
    const int32_t mask = one_quarter - 1;
    const int32_t a_mod_quarter_minus_one_quarter = nb_fp_sub(a & mask, one_quarter);
    int32_t result = nb_fp_exp_on_interval_neg_quarter_to_0(
        nb_fp_sat_rounding_mul_pot(a_mod_quarter_minus_one_quarter, integer_bits));
    const int32_t remainder = nb_fp_sub(a_mod_quarter_minus_one_quarter, a);
    int k;

    for (k = 0; k < 7; ++k) {
        const int exponent = k - 2;
        if (integer_bits > exponent) {
            const int shift = fractional_bits + exponent;
            if (((uint32_t)remainder & (1u << shift)) != 0u) {
                result = nb_fp_mul(result, multipliers[k]);
            }
        }
    }
    if (integer_bits > 5) {
        const int32_t clamp = -((int32_t)1 << (36 - integer_bits)); /* -32 */
        if (a < clamp) {
            result = 0;
        }
    }
    if (a == 0) {
        result = INT32_MAX; /* FixedPoint<int32, 0>::One() */
    }
    return result;
}

/* gemmlowp::RoundingHalfSum for int32. */
static inline int32_t nb_fp_rounding_half_sum(int32_t a, int32_t b)
{
    const int64_t sum = (int64_t)a + (int64_t)b;
    const int64_t sign = sum >= 0 ? 1 : -1;
    return (int32_t)((sum + sign) / 2);
}

/* Newton-Raphson iterate shared by the two divisions below: x ~ 1/half_denominator,
 * with 2 integer bits. */
static inline int32_t nb_fp_newton_reciprocal_q2(int32_t half_denominator)
{
    const int32_t constant_48_over_17 = 1515870810;
    const int32_t constant_neg_32_over_17 = -1010580540;
    const int32_t one_q2 = (int32_t)1 << 29;
    int32_t x = nb_fp_add(constant_48_over_17, nb_fp_mul(half_denominator, constant_neg_32_over_17));
    int i;
    for (i = 0; i < 3; ++i) {
        const int32_t half_denominator_times_x = nb_fp_mul(half_denominator, x);
        const int32_t one_minus = nb_fp_sub(one_q2, half_denominator_times_x);
        x = nb_fp_add(x, nb_fp_sat_rounding_mul_pot(nb_fp_mul(x, one_minus), 2));
    }
    return x;
}

/* 1 / (1 + a) for a in [0, 1), input and output with 0 integer bits. */
static inline int32_t nb_fp_one_over_one_plus_x(int32_t a)
{
    const int32_t half_denominator = nb_fp_rounding_half_sum(a, INT32_MAX);
    const int32_t x = nb_fp_newton_reciprocal_q2(half_denominator);
    return nb_fp_sat_rounding_mul_pot(x, 1); /* Rescale<0>(ExactMulByPot<-1>(x)) */
}

/* (1 - a) / (1 + a) for a in [0, 1), input and output with 0 integer bits. */
static inline int32_t nb_fp_one_minus_x_over_one_plus_x(int32_t a)
{
    const int32_t half_denominator = nb_fp_rounding_half_sum(a, INT32_MAX);
    const int32_t x = nb_fp_newton_reciprocal_q2(half_denominator);
    return nb_fp_sat_rounding_mul_pot(nb_fp_sub(x, (int32_t)1 << 29), 2);
}

/* logistic(a), a with 4 integer bits, result with 0 integer bits. */
static inline int32_t nb_fp_logistic_q4(int32_t a)
{
    const int32_t abs_input = a > 0 ? a : nb_fp_neg(a);
    const int32_t result_if_positive =
        nb_fp_one_over_one_plus_x(nb_fp_exp_on_negative_values(nb_fp_neg(abs_input), 4));
    if (a == 0) {
        return (int32_t)1 << 30; /* 1/2 */
    }
    return a > 0 ? result_if_positive : nb_fp_sub(INT32_MAX, result_if_positive);
}

/* tanh(a), a with 4 integer bits, result with 0 integer bits. */
static inline int32_t nb_fp_tanh_q4(int32_t a)
{
    const int32_t n = a < 0 ? a : nb_fp_neg(a);
    /* ExactMulByPot<1>: the same raw value read with 5 integer bits is 2n. */
    const int32_t t = nb_fp_one_minus_x_over_one_plus_x(nb_fp_exp_on_negative_values(n, 5));
    if (a == 0) {
        return 0;
    }
    return a < 0 ? nb_fp_neg(t) : t;
}

/* Count leading zeros of a 32-bit value (32 for 0). */
static inline int nb_fp_clz32(uint32_t x)
{
    int n = 0;
    if (x == 0u) {
        return 32;
    }
    while ((x & 0x80000000u) == 0u) {
        x <<= 1;
        ++n;
    }
    return n;
}

/* tflite::GetReciprocal: 1/x for x > 0 with x_integer_digits integer bits; the
 * result has 0 integer bits and must be scaled by 2^num_bits_over_unit. */
static inline int32_t nb_fp_get_reciprocal(int32_t x, int x_integer_digits, int *num_bits_over_unit)
{
    const int headroom_plus_one = nb_fp_clz32((uint32_t)x);
    const uint32_t shifted = headroom_plus_one < 32 ? ((uint32_t)x << headroom_plus_one) : 0u;
    const int32_t shifted_sum_minus_one = (int32_t)(shifted - (1u << 31));
    *num_bits_over_unit = x_integer_digits - headroom_plus_one;
    return nb_fp_one_over_one_plus_x(shifted_sum_minus_one);
}

#ifdef __cplusplus
}
#endif

#endif /* NB_FIXEDPOINT_H */
