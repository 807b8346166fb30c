/* Four int32 lanes on 64-bit hosts (SSE2 on x86-64, NEON on aarch64), for the runtime's per-unit gate arithmetic
 * four units at a time. Only wc_model.c's host path includes it (under __SSE2__ or __ARM_NEON): the microcontroller
 * builds never see it. Every operation is the scalar one of wc_fixed.h lane by lane, so the integers do not change. */
#ifndef WATTCAST_WC_HOST_SIMD_H
#define WATTCAST_WC_HOST_SIMD_H

#include <stdint.h>
#include <string.h>

#include "wc_model.h"

#if defined(__SSE2__)
#include <emmintrin.h>
typedef __m128i wc_v4;

static inline wc_v4 v4_load(const int32_t *p) { return _mm_loadu_si128((const __m128i *)(const void *)p); }
static inline void v4_store(int32_t *p, wc_v4 v) { _mm_storeu_si128((__m128i *)(void *)p, v); }
static inline wc_v4 v4_set1(int32_t x) { return _mm_set1_epi32(x); }
static inline wc_v4 v4_add(wc_v4 a, wc_v4 b) { return _mm_add_epi32(a, b); }
static inline wc_v4 v4_sub(wc_v4 a, wc_v4 b) { return _mm_sub_epi32(a, b); }
static inline wc_v4 v4_and(wc_v4 a, wc_v4 b) { return _mm_and_si128(a, b); }
static inline wc_v4 v4_xor(wc_v4 a, wc_v4 b) { return _mm_xor_si128(a, b); }
/* -1 where a > b, else 0. */
static inline wc_v4 v4_greater(wc_v4 a, wc_v4 b) { return _mm_cmpgt_epi32(a, b); }
/* mask ? a : b, lane by lane (mask lanes all ones or all zeros). */
static inline wc_v4 v4_select(wc_v4 mask, wc_v4 a, wc_v4 b) {
    return _mm_or_si128(_mm_and_si128(mask, a), _mm_andnot_si128(mask, b));
}
/* a * b for a and b in int16 range: pmaddwd with b's upper halves cleared adds a_lo * b_lo and 0. */
static inline wc_v4 v4_mul16(wc_v4 a, wc_v4 b) { return _mm_madd_epi16(a, _mm_and_si128(b, _mm_set1_epi32(0xFFFF))); }
static inline wc_v4 v4_sar(wc_v4 a, int32_t n) { return _mm_sra_epi32(a, _mm_cvtsi32_si128(n)); }
static inline wc_v4 v4_shl(wc_v4 a, int32_t n) { return _mm_sll_epi32(a, _mm_cvtsi32_si128(n)); }

/* The low 32 bits of lanes 0 and 2 of two 64-bit-lane vectors, as [e0 o0 e2 o2]. */
static inline wc_v4 v4_interleave_low(wc_v4 even, wc_v4 odd) {
    return _mm_unpacklo_epi32(_mm_shuffle_epi32(even, _MM_SHUFFLE(0, 0, 2, 0)),
                              _mm_shuffle_epi32(odd, _MM_SHUFFLE(0, 0, 2, 0)));
}

/* a * b, low 32 bits (SSE2 has no pmulld: two unsigned 32x32->64 multiplies; the low half ignores signs). */
static inline wc_v4 v4_mul(wc_v4 a, wc_v4 b) {
    return v4_interleave_low(_mm_mul_epu32(a, b), _mm_mul_epu32(_mm_srli_epi64(a, 32), _mm_srli_epi64(b, 32)));
}

/* wc_high_mul(a, m) for m in [2^30, 2^31): floor((a * m + 2^30) / 2^31) from the unsigned product of a's bits,
 * minus 2m where a < 0 (a's bits read unsigned are a + 2^32, whose product is m * 2^32 = 2m * 2^31 too big). */
static inline wc_v4 v4_high_mul(wc_v4 a, int32_t m) {
    const wc_v4 mm = _mm_set1_epi32(m), half = _mm_set1_epi64x((int64_t)1 << 30);
    const wc_v4 even = _mm_srli_epi64(_mm_add_epi64(_mm_mul_epu32(a, mm), half), 31);
    const wc_v4 odd = _mm_srli_epi64(_mm_add_epi64(_mm_mul_epu32(_mm_srli_epi64(a, 32), mm), half), 31);
    const wc_v4 twice_m = _mm_set1_epi32((int32_t)((uint32_t)m << 1));
    return _mm_sub_epi32(v4_interleave_low(even, odd), _mm_and_si128(_mm_srai_epi32(a, 31), twice_m));
}

/* Each lane saturated to int16 (packssdw), then clamped to [lo, hi] (within int16), as int32 lanes. */
static inline wc_v4 v4_sat16_clamp(wc_v4 a, int16_t lo, int16_t hi) {
    __m128i p = _mm_packs_epi32(a, a);
    p = _mm_min_epi16(_mm_max_epi16(p, _mm_set1_epi16(lo)), _mm_set1_epi16(hi));
    return _mm_srai_epi32(_mm_unpacklo_epi16(p, p), 16);
}

/* The four lanes saturated to int8, stored as 4 bytes. */
static inline void v4_store_sat8(int8_t *out, wc_v4 a) {
    const __m128i p = _mm_packs_epi32(a, a);
    const int32_t bytes = _mm_cvtsi128_si32(_mm_packs_epi16(p, p));
    memcpy(out, &bytes, 4);
}

/* rows[k] = [r_k0 r_k1 r_k2 r_k3] -> rows[g] = [r_0g r_1g r_2g r_3g]. */
static inline void v4_transpose(wc_v4 rows[4]) {
    const __m128i t0 = _mm_unpacklo_epi32(rows[0], rows[1]), t1 = _mm_unpacklo_epi32(rows[2], rows[3]);
    const __m128i t2 = _mm_unpackhi_epi32(rows[0], rows[1]), t3 = _mm_unpackhi_epi32(rows[2], rows[3]);
    rows[0] = _mm_unpacklo_epi64(t0, t1);
    rows[1] = _mm_unpackhi_epi64(t0, t1);
    rows[2] = _mm_unpacklo_epi64(t2, t3);
    rows[3] = _mm_unpackhi_epi64(t2, t3);
}
#else
#include <arm_neon.h>
typedef int32x4_t wc_v4;

static inline wc_v4 v4_load(const int32_t *p) { return vld1q_s32(p); }
static inline void v4_store(int32_t *p, wc_v4 v) { vst1q_s32(p, v); }
static inline wc_v4 v4_set1(int32_t x) { return vdupq_n_s32(x); }
static inline wc_v4 v4_add(wc_v4 a, wc_v4 b) { return vaddq_s32(a, b); }
static inline wc_v4 v4_sub(wc_v4 a, wc_v4 b) { return vsubq_s32(a, b); }
static inline wc_v4 v4_and(wc_v4 a, wc_v4 b) { return vandq_s32(a, b); }
static inline wc_v4 v4_xor(wc_v4 a, wc_v4 b) { return veorq_s32(a, b); }
static inline wc_v4 v4_greater(wc_v4 a, wc_v4 b) { return vreinterpretq_s32_u32(vcgtq_s32(a, b)); }
static inline wc_v4 v4_select(wc_v4 mask, wc_v4 a, wc_v4 b) { return vbslq_s32(vreinterpretq_u32_s32(mask), a, b); }
static inline wc_v4 v4_mul16(wc_v4 a, wc_v4 b) { return vmulq_s32(a, b); }
static inline wc_v4 v4_sar(wc_v4 a, int32_t n) { return vshlq_s32(a, vdupq_n_s32(-n)); }
static inline wc_v4 v4_shl(wc_v4 a, int32_t n) { return vshlq_s32(a, vdupq_n_s32(n)); }
static inline wc_v4 v4_mul(wc_v4 a, wc_v4 b) { return vmulq_s32(a, b); }

/* wc_high_mul(a, m): sqrdmulh is (2 a m + 2^31) >> 32, the same floor; it saturates only for a = m = -2^31. */
static inline wc_v4 v4_high_mul(wc_v4 a, int32_t m) { return vqrdmulhq_s32(a, vdupq_n_s32(m)); }

static inline wc_v4 v4_sat16_clamp(wc_v4 a, int16_t lo, int16_t hi) {
    const wc_v4 s = vmovl_s16(vqmovn_s32(a));
    return vminq_s32(vmaxq_s32(s, vdupq_n_s32(lo)), vdupq_n_s32(hi));
}

static inline void v4_store_sat8(int8_t *out, wc_v4 a) {
    const int16x4_t h = vqmovn_s32(a);
    const int8x8_t b = vqmovn_s16(vcombine_s16(h, h));
    int8_t lanes[8];
    vst1_s8(lanes, b);
    memcpy(out, lanes, 4);
}

static inline void v4_transpose(wc_v4 rows[4]) {
    const int32x4x2_t a = vtrnq_s32(rows[0], rows[1]), b = vtrnq_s32(rows[2], rows[3]);
    rows[0] = vcombine_s32(vget_low_s32(a.val[0]), vget_low_s32(b.val[0]));
    rows[1] = vcombine_s32(vget_low_s32(a.val[1]), vget_low_s32(b.val[1]));
    rows[2] = vcombine_s32(vget_high_s32(a.val[0]), vget_high_s32(b.val[0]));
    rows[3] = vcombine_s32(vget_high_s32(a.val[1]), vget_high_s32(b.val[1]));
}
#endif

/* |a| with its sign as a mask: (a ^ s) - s, s = -1 where a < 0. */
static inline wc_v4 v4_abs(wc_v4 a, wc_v4 *sign) {
    *sign = v4_sar(a, 31);
    return v4_sub(v4_xor(a, *sign), *sign);
}

#define v4_sat16(a) v4_sat16_clamp((a), INT16_MIN, INT16_MAX)

/* wc_rescale lane by lane: TFLite's MultiplyByQuantizedMultiplier with one scale for all four. */
static inline wc_v4 v4_rescale(wc_v4 x, wc_scale_t s) {
    const wc_v4 product = v4_high_mul(v4_shl(x, s.shift > 0 ? s.shift : 0), s.multiplier);
    const int32_t right = s.shift > 0 ? 0 : -s.shift;
    if (right == 0) return product;
    /* x + 2^(right-1) - (x < 0), shifted: rounding to nearest, ties away from zero. */
    return v4_sar(v4_add(v4_add(product, v4_set1(1 << (right - 1))), v4_sar(product, 31)), right);
}

#endif /* WATTCAST_WC_HOST_SIMD_H */
