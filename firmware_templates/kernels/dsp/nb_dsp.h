/*
 * nb_dsp.h - helpers for the Cortex-M4/M7 (Armv7E-M DSP extension) kernel variants.
 *
 * The variants in this folder define the SAME functions and params structs as the portable kernels in
 * firmware_templates/kernels/ (nb_conv2d, nb_depthwise_conv2d, nb_fully_connected) and are compiled
 * INSTEAD of them for Cortex-M4/M7 (see convert/kernel_variants.py). They are bit-exact to the portable
 * kernels (and so to TFLM) for every input: the SIMD paths use SXTB16 / SMLAD / SMLABB on int16 lanes
 * (ACLE intrinsics from arm_acle.h; __ror written by hand, GCC 12 lacks it) and 32-bit wrapping
 * accumulators, exactly like the reference int32 sums.
 *
 * Scratch memory: the kernels use one static buffer, nb_kernel_scratch (nb_kernel_scratch.c), of
 * NB_KERNEL_SCRATCH_BYTES bytes. The code generator sets that define to the maximum over the model's ops
 * of convert.kernel_variants.scratch_bytes(op, cpu, params); when a call needs more than that the kernel
 * takes a slower path that needs none (still bit-exact). The define must be the same for every file of a
 * build (project-wide): each kernel checks its need against sizeof(nb_kernel_scratch) as declared here.
 *
 * Without __ARM_FEATURE_DSP (e.g. a host build of this folder) the intrinsics below fall back to
 * portable C with the same results, so the files also compile and test on the host.
 */
#ifndef NB_DSP_H
#define NB_DSP_H

#include "nb_common.h"

#ifndef NB_KERNEL_SCRATCH_BYTES
#define NB_KERNEL_SCRATCH_BYTES 4096
#endif

/* 8-byte aligned scratch shared by all kernel variants (used by one kernel call at a time). */
extern int32_t nb_kernel_scratch[(NB_KERNEL_SCRATCH_BYTES + 3) / 4];

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#define NB_DSP_NATIVE 1
static inline int32_t nb_sxtb16(uint32_t x) { return (int32_t)__sxtb16(x); }
static inline int32_t nb_sxtb16_ror8(uint32_t x)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
static inline int32_t nb_smlad(int32_t a, int32_t b, int32_t acc) { return __smlad(a, b, acc); }
static inline int32_t nb_smlabb(int32_t a, int32_t b, int32_t acc) { return __smlabb(a, b, acc); }
static inline int32_t nb_smlatt(int32_t a, int32_t b, int32_t acc) { return __smlatt(a, b, acc); }
static inline int32_t nb_sadd16(int32_t a, int32_t b) { return (int32_t)__sadd16(a, b); }
#else
#define NB_DSP_NATIVE 0
static inline int32_t nb__pack16(int32_t lo, int32_t hi) { return (int32_t)(((uint32_t)(uint16_t)lo) | ((uint32_t)(uint16_t)hi << 16)); }
static inline int32_t nb__lo16(int32_t x) { return (int32_t)(int16_t)(uint16_t)((uint32_t)x & 0xFFFFu); }
static inline int32_t nb__hi16(int32_t x) { return (int32_t)(int16_t)(uint16_t)((uint32_t)x >> 16); }
static inline int32_t nb_sxtb16(uint32_t x) { return nb__pack16((int8_t)(x & 0xFFu), (int8_t)((x >> 16) & 0xFFu)); }
static inline int32_t nb_sxtb16_ror8(uint32_t x) { return nb__pack16((int8_t)((x >> 8) & 0xFFu), (int8_t)(x >> 24)); }
static inline int32_t nb_smlad(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(nb__lo16(a) * nb__lo16(b)) + (uint32_t)(nb__hi16(a) * nb__hi16(b)));
}
static inline int32_t nb_smlabb(int32_t a, int32_t b, int32_t acc) { return (int32_t)((uint32_t)acc + (uint32_t)(nb__lo16(a) * nb__lo16(b))); }
static inline int32_t nb_smlatt(int32_t a, int32_t b, int32_t acc) { return (int32_t)((uint32_t)acc + (uint32_t)(nb__hi16(a) * nb__hi16(b))); }
static inline int32_t nb_sadd16(int32_t a, int32_t b) { return nb__pack16(nb__lo16(a) + nb__lo16(b), nb__hi16(a) + nb__hi16(b)); }
#endif

/* Unaligned 32-bit load/store (LDR/STR allow unaligned access on Armv7-M; memcpy keeps C99 legal). */
static inline uint32_t nb_read_u32(const void *p)
{
    uint32_t v;
    __builtin_memcpy(&v, p, 4);
    return v;
}
static inline void nb_write_u32(void *p, uint32_t v) { __builtin_memcpy(p, &v, 4); }

/* nb_add_wrap / nb_mul_wrap (wrapping int32 arithmetic) are in nb_common.h. */

/* SMMULR: (a * b + 2^31) >> 32 (rounding most-significant-word multiply). */
static inline int32_t nb_smmulr(int32_t a, int32_t b)
{
#if NB_DSP_NATIVE
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return (int32_t)(((int64_t)a * b + ((int64_t)1 << 31)) >> 32);
#endif
}

/* SMMLAR: (ra * 2^32 + a * b + 2^31) >> 32 (rounding most-significant-word multiply-accumulate). */
static inline int32_t nb_smmlar(int32_t a, int32_t b, int32_t ra)
{
#if NB_DSP_NATIVE
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(ra));
    return r;
#else
    return (int32_t)(((int64_t)ra * 4294967296LL + (int64_t)a * b + 2147483648LL) >> 32);
#endif
}

/*
 * Requantization, bit-exact to nb_multiply_by_quantized_multiplier() + zero point + clamp, cheaper.
 * Fast path (shift <= 0 and -2^30 <= acc < 2^30, i.e. every real model): gemmlowp's
 * SaturatingRoundingDoublingHighMul(acc, m) == floor((2*acc*m + 2^31) / 2^32) == SMMULR(2*acc, m) (its
 * nudge-and-truncate equals this floor for both signs; 2*acc does not overflow), and
 * RoundingDivideByPOT(y, e) == (y + 2^(e-1) - (y < 0)) >> e for e > 0 (|y| < 2^30: no overflow).
 * Anything else takes the reference functions.
 */
static inline int32_t nb_rq(int32_t acc, int32_t mult, int32_t shift, int32_t out_zp, int32_t act_min,
                            int32_t act_max)
{
    int32_t y;
    if (__builtin_expect(shift > 0 || (uint32_t)acc + 0x40000000u >= 0x80000000u, 0)) {
        y = nb_multiply_by_quantized_multiplier(acc, mult, (int)shift);
    } else {
        const int32_t rs = -shift;
        y = nb_smmulr((int32_t)((uint32_t)acc << 1), mult);
        y = (y + (int32_t)((1u << rs) >> 1) + ((y >> 31) & ((-rs) >> 31))) >> rs;
    }
    y += out_zp;
    y = y < act_min ? act_min : y;
    return y > act_max ? act_max : y;
}

/*
 * Table-driven requantization (the blocked kernels; prepared once per call by nb_rq_prepare), bit-exact to
 * nb_multiply_by_quantized_multiplier() + zero point for multipliers m >= 0 and shifts -23..-1 (every
 * quantize_multiplier() result of a real scale in [2^-24, 1)). With P = acc * m and e = -shift, TFLM's
 * double rounding RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(acc, m), e) + zp equals
 *   (P + 2^30 + 2^(30+e) + zp * 2^(31+e) - [P < -2^30] * 2^31) >> (31 + e)
 * (nested floors with integer addends merge; [P < -2^30] is "the high product is negative", which for
 * m >= 0 may be replaced by [acc < 0]: when acc < 0 but P >= -2^30 both variants give 0). So one SMLAL
 * from a per-channel 64-bit start value C and one arithmetic shift of the high word by e - 1 (the low
 * word only carries into it). No saturation case (m >= 0), no int64 overflow (|P| <= 2^62, e <= 23).
 */
typedef struct {
    int32_t m;   /* multiplier */
    int32_t es;  /* e - 1 */
    uint32_t lo; /* C = 2^30 + 2^(30+e) + zp * 2^(31+e), low / high word */
    int32_t hi;
} nb_rq_ch_t;

/* Fill t[0..n) (channel c uses mult/shift[per_channel ? c : 0]); returns 1 if every channel qualifies. */
static inline int nb_rq_prepare(const int32_t *mult, const int32_t *shift, int32_t per_channel, int32_t n,
                                int32_t out_zp, nb_rq_ch_t *t)
{
    int ok = 1;
    int32_t c;
    for (c = 0; c < n; ++c) {
        const int32_t q = per_channel ? c : 0;
        int32_t e = -shift[q];
        int64_t cc;
        if (mult[q] < 0 || e < 1 || e > 23) {
            ok = 0;
            e = 1;
        }
        cc = ((int64_t)1 << 30) + ((int64_t)1 << (30 + e)) + (int64_t)out_zp * ((int64_t)1 << (31 + e));
        t[c].m = mult[q];
        t[c].es = e - 1;
        t[c].lo = (uint32_t)((uint64_t)cc & 0xFFFFFFFFu);
        t[c].hi = (int32_t)(cc >> 32);
    }
    return ok;
}

/* Saturate to int8 (SSAT #8). */
static inline int32_t nb_ssat8(int32_t y)
{
#if NB_DSP_NATIVE
    return __ssat(y, 8);
#else
    return nb_clamp_i32(y, NB_INT8_MIN, NB_INT8_MAX);
#endif
}

static inline int32_t nb_rq_tab(int32_t acc, const nb_rq_ch_t *t, int32_t act_min, int32_t act_max)
{
    const int64_t c = (int64_t)(((uint64_t)(uint32_t)t->hi << 32) | t->lo) - ((int64_t)(acc < 0) << 31);
    int32_t y = (int32_t)((c + (int64_t)acc * t->m) >> 32) >> t->es;
    y = y < act_min ? act_min : y;
    return y > act_max ? act_max : y;
}

#endif /* NB_DSP_H */
