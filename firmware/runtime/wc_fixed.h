/* The fixed-point primitives of TFLite's integer kernels (gemmlowp's rounding conventions), written for wattcast. */
#ifndef WATTCAST_WC_FIXED_H
#define WATTCAST_WC_FIXED_H

#include <stdint.h>

#include "wc_model.h"

/* round(a * b / 2^31), ties away from zero, saturating the one overflow (INT32_MIN * INT32_MIN). */
static inline int32_t wc_high_mul(int32_t a, int32_t b) {
    if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
    int64_t ab = (int64_t)a * (int64_t)b;
    int64_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31)); /* C99 division truncates toward zero, as gemmlowp's */
}

/* x / 2^exponent rounded to nearest, ties away from zero. */
static inline int32_t wc_rounding_shift(int32_t x, int32_t exponent) {
    const int32_t mask = (int32_t)(((uint32_t)1 << exponent) - 1u);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0); /* arithmetic shift (gcc, clang) */
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

#endif /* WATTCAST_WC_FIXED_H */
