/* TFLite's int16 sigmoid and tanh: a 256-point table of the sigmoid on |x| in steps of 1/24 with linear
 * interpolation, tanh(x) = 2 sigmoid(2x) - 1. Inputs Q3.12 (times the given multiplier), outputs Q0.15. */
#ifndef WATTCAST_WC_ACTIVATIONS_H
#define WATTCAST_WC_ACTIVATIONS_H

#include <stdint.h>

/* 65536 x sigmoid(i / 24) for i = 0..255 as TFLite tabulates it; wc_sigmoid_table.c beside it, measured by
   python -m convert.c_runtime_table. */
extern const uint16_t wc_sigmoid_table[256];

/* sigmoid of a Q3.12 input, Q0.15 output. */
static inline int16_t wc_sigmoid_q15(int16_t v) {
    const int32_t x = (int32_t)v * 3; /* 3/4 of the range in table steps of 2^9 */
    const uint32_t a = (uint32_t)(x < 0 ? -x : x);
    const uint32_t i = a >> 9;
    uint32_t r;
    if (i >= 255) {
        r = (uint32_t)0x7FFF << 10;
    } else {
        const uint32_t lo = wc_sigmoid_table[i], hi = wc_sigmoid_table[i + 1];
        r = (lo << 9) + (a & 0x1FFu) * (hi - lo);
    }
    r = x >= 0 ? r + (1u << 9) : (1u << 25) - r + (1u << 9) - 1u;
    return (int16_t)(r >> 10);
}

/* tanh of (v * multiplier + round) >> shift in Q3.12 steps of the table, Q0.15 output. */
static inline int16_t wc_tanh_q15(int16_t v, int32_t multiplier, int32_t shift) {
    const int32_t round = shift > 0 ? 1 << (shift - 1) : 0;
    const int32_t x = ((int32_t)v * multiplier + round) >> shift;
    const uint32_t a = (uint32_t)(x < 0 ? -x : x);
    const uint32_t i = a >> 8;
    int32_t r;
    if (i >= 255) {
        r = 0xFFFF << 8;
    } else {
        const uint32_t lo = wc_sigmoid_table[i], hi = wc_sigmoid_table[i + 1];
        r = (int32_t)((lo << 8) + (a & 0xFFu) * (hi - lo));
    }
    r = x >= 0 ? r - (1 << 23) + (1 << 7) : -r + (1 << 23) + (1 << 7) - 1;
    return (int16_t)(r >> 8);
}

#endif /* WATTCAST_WC_ACTIVATIONS_H */
