/*
 * nb_common.h - shared fixed-point helpers for the noisebudget int8 kernels.
 *
 * Portable C99, header only, no malloc, no float. Semantics follow the TFLite
 * Micro reference kernels (gemmlowp fixed point, "double rounding"
 * MultiplyByQuantizedMultiplier), so kernels built on them are bit-exact to
 * TFLM:
 *
 *   nb_sat_rounding_doubling_high_mul(a, b)  gemmlowp SaturatingRoundingDoublingHighMul
 *   nb_rounding_divide_by_pot(x, e)          gemmlowp RoundingDivideByPOT (e in 0..31)
 *   nb_multiply_by_quantized_multiplier(x, m, shift)
 *        TFLM MultiplyByQuantizedMultiplier: shift > 0 is a left shift applied
 *        before the high multiply, shift <= 0 a rounding right shift after it.
 *        (m, shift) come from convert/quant.py:quantize_multiplier().
 *   nb_multiply_by_quantized_multiplier_smaller_than_one_exp(x, m, left_shift)
 *   nb_multiply_by_quantized_multiplier_greater_than_one(x, m, left_shift)
 *   nb_add_wrap, nb_mul_wrap                 wrapping int32 add / multiply (accumulators)
 *   nb_clamp_i32, nb_min_i32, nb_max_i32, nb_sat_i8, nb_sat_i16
 *   nb_dims4_t   NHWC dimensions (n, h, w, c)
 *   nb_offset4   flat index of (n, h, w, c) in a packed NHWC tensor
 *
 * Activation ranges (fused NONE/RELU/RELU6/RELU_N1_TO_1) are computed offline
 * (convert/quant.py:activation_range) and passed to kernels as act_min/act_max.
 *
 * Right shifts of negative values are assumed arithmetic (true for gcc/clang
 * on every target we build for); the typedef below fails to compile otherwise.
 */
#ifndef NB_COMMON_H
#define NB_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Compile-time check: >> on negative ints must be an arithmetic shift. */
typedef char nb_arithmetic_shift_required[((-1) >> 1) == -1 ? 1 : -1];

#define NB_INT8_MIN (-128)
#define NB_INT8_MAX 127
#define NB_INT16_MIN (-32768)
#define NB_INT16_MAX 32767

/* NHWC dimensions. */
typedef struct {
    int32_t n;
    int32_t h;
    int32_t w;
    int32_t c;
} nb_dims4_t;

static inline int32_t nb_offset4(const nb_dims4_t *d, int32_t n, int32_t h, int32_t w, int32_t c)
{
    return ((n * d->h + h) * d->w + w) * d->c + c;
}

static inline int32_t nb_min_i32(int32_t a, int32_t b) { return a < b ? a : b; }
static inline int32_t nb_max_i32(int32_t a, int32_t b) { return a > b ? a : b; }

static inline int32_t nb_clamp_i32(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

static inline int8_t nb_sat_i8(int32_t x) { return (int8_t)nb_clamp_i32(x, NB_INT8_MIN, NB_INT8_MAX); }
static inline int16_t nb_sat_i16(int32_t x) { return (int16_t)nb_clamp_i32(x, NB_INT16_MIN, NB_INT16_MAX); }

/* Wrapping left shift (x * 2^s modulo 2^32) without signed-overflow UB. */
static inline int32_t nb_shl_wrap(int32_t x, int s)
{
    return (int32_t)((uint32_t)x << s);
}

/* Wrapping int32 add / multiply (two's complement, modulo 2^32) without signed-overflow UB: the int32
 * accumulators of the conv / FC kernels wrap like TFLM's on real hardware, and UBSan stays quiet. */
static inline int32_t nb_add_wrap(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
static inline int32_t nb_mul_wrap(int32_t a, int32_t b) { return (int32_t)((uint32_t)a * (uint32_t)b); }

/* gemmlowp::SaturatingRoundingDoublingHighMul: round(a * b / 2^31), saturating
 * the single overflow case a == b == INT32_MIN. The division truncates toward
 * zero after adding a sign-dependent nudge, exactly like gemmlowp. */
static inline int32_t nb_sat_rounding_doubling_high_mul(int32_t a, int32_t b)
{
    const int overflow = (a == b) && (a == INT32_MIN);
    const int64_t ab_64 = (int64_t)a * (int64_t)b;
    const int32_t nudge = ab_64 >= 0 ? (1 << 30) : (1 - (1 << 30));
    const int32_t ab_x2_high32 = (int32_t)((ab_64 + nudge) / ((int64_t)1 << 31));
    return overflow ? INT32_MAX : ab_x2_high32;
}

/* gemmlowp::RoundingDivideByPOT: x / 2^exponent rounded to nearest, ties away
 * from zero. exponent in [0, 31]. */
static inline int32_t nb_rounding_divide_by_pot(int32_t x, int exponent)
{
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + ((x < 0) ? 1 : 0);
    return (x >> exponent) + ((remainder > threshold) ? 1 : 0);
}

/* TFLM MultiplyByQuantizedMultiplier (double rounding). */
static inline int32_t nb_multiply_by_quantized_multiplier(int32_t x, int32_t quantized_multiplier, int shift)
{
    const int left_shift = shift > 0 ? shift : 0;
    const int right_shift = shift > 0 ? 0 : -shift;
    return nb_rounding_divide_by_pot(
        nb_sat_rounding_doubling_high_mul(nb_shl_wrap(x, left_shift), quantized_multiplier), right_shift);
}

/* TFLM MultiplyByQuantizedMultiplierSmallerThanOneExp (left_shift <= 0). */
static inline int32_t nb_multiply_by_quantized_multiplier_smaller_than_one_exp(int32_t x,
                                                                               int32_t quantized_multiplier,
                                                                               int left_shift)
{
    return nb_rounding_divide_by_pot(nb_sat_rounding_doubling_high_mul(x, quantized_multiplier), -left_shift);
}

/* TFLM MultiplyByQuantizedMultiplierGreaterThanOne (left_shift >= 0). */
static inline int32_t nb_multiply_by_quantized_multiplier_greater_than_one(int32_t x,
                                                                           int32_t quantized_multiplier,
                                                                           int left_shift)
{
    return nb_sat_rounding_doubling_high_mul(nb_shl_wrap(x, left_shift), quantized_multiplier);
}

/* Fused activation codes (same numbering as the TFLite schema). Kernels take
 * the resulting act_min/act_max; these are for generated code/comments. */
typedef enum {
    NB_ACT_NONE = 0,
    NB_ACT_RELU = 1,
    NB_ACT_RELU_N1_TO_1 = 2,
    NB_ACT_RELU6 = 3
} nb_activation_t;

#ifdef __cplusplus
}
#endif

#endif /* NB_COMMON_H */
