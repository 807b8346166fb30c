/* The fixed-point primitives of TFLite's integer kernels (gemmlowp's rounding conventions), written for wattcast in
 * forms that need no 64-bit division. */
#ifndef WATTCAST_WC_FIXED_H
#define WATTCAST_WC_FIXED_H

#include <stdint.h>

#include "wc_model.h"

#if defined(__ARM_FEATURE_SAT)
#include <arm_acle.h>
#endif

/* gemmlowp's SaturatingRoundingDoublingHighMul, round(a * b / 2^31) with ties away from zero, for b in
 * [2^30, 2^31) (every multiplier here), where it never saturates. Its "add +-2^30, divide truncating" equals
 * floor((a * b + 2^30) / 2^31) for both signs, which is one multiply, one add and a shift. */
static inline int32_t wc_high_mul(int32_t a, int32_t b) {
    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31); /* arithmetic shift (gcc, clang) */
}

/* gemmlowp's RoundingDivideByPOT, x / 2^exponent rounded to nearest with ties away from zero. */
static inline int32_t wc_rounding_shift(int32_t x, int32_t exponent) {
    if (exponent == 0) return x;
    return (x + (1 << (exponent - 1)) - (x < 0 ? 1 : 0)) >> exponent;
}

/* x times a real multiplier: TFLite's MultiplyByQuantizedMultiplier (the double-rounding one, its default). */
static inline int32_t wc_rescale(int32_t x, wc_scale_t s) {
    const int32_t left = s.shift > 0 ? s.shift : 0;
    const int32_t right = s.shift > 0 ? 0 : -s.shift;
    return wc_rounding_shift(wc_high_mul((int32_t)((uint32_t)x << left), s.multiplier), right);
}

static inline int32_t wc_clamp(int32_t x, int32_t lo, int32_t hi) {
    return x < lo ? lo : (x > hi ? hi : x);
}

/* x saturated to a signed BITS-bit integer: one SSAT instruction on the M4 (its width must be a constant, hence a
 * macro), a clamp elsewhere. */
#if defined(__ARM_FEATURE_SAT)
#define WC_SAT(x, bits) __ssat((x), (bits))
#else
#define WC_SAT(x, bits) wc_clamp((x), -(1L << ((bits) - 1)), (1L << ((bits) - 1)) - 1)
#endif
#define wc_sat16(x) WC_SAT((x), 16)
#define wc_sat8(x) WC_SAT((x), 8)

#endif /* WATTCAST_WC_FIXED_H */
