/* wattcast's int8 LSTM runtime; see wc_model.h for what it computes and why it matches TFLite Micro. */
#include "wc_model.h"

#include "wc_activations.h"
#include "wc_fixed.h"

#define WC_GATES 4

/* sum(w[i] * x[i]) over int8 vectors: the dense head. */
static int32_t dot(const int8_t *w, const int8_t *x, int32_t n) {
    int32_t acc = 0;
    for (int32_t i = 0; i < n; ++i) {
        acc += (int32_t)w[i] * (int32_t)x[i];
    }
    return acc;
}

#if defined(__SSE2__) || defined(__ARM_NEON)
/* Hosts with 128-bit integer vectors (the agent's CPython extension on x86-64 and the Pi's aarch64): no SMLAD, so
 * the input is widened once per step into pairs of groups, each group's four inputs twice, [x0 x1 x2 x3 x0 x1 x2 x3],
 * and one group's 16 weights (gates 0-1, then 2-3) multiply it as two vectors of eight int16. The gate arithmetic
 * then runs four units at a time (wc_host_simd.h). The sums are the same integers in another order and every lane
 * does the scalar arithmetic: the outputs do not change (tests/test_firmware_aarch64.py, test_wattcast_runtime.py). */
#define WC_HOST_SIMD 1
#include "wc_host_simd.h"
#define WC_WIDE_LEN (2 * WC_MAX_STATE)

/* out[8 * group + j] = x[4 * group + j % 4], zero past n. */
static void widen(const int8_t *x, int32_t n, int16_t *out) {
    int8_t padded[WC_MAX_STATE] WC_ALIGN4;
    const int32_t groups = WC_PADDED(n) / 4;
    memset(padded, 0, sizeof padded);
    memcpy(padded, x, (size_t)n);
    for (int32_t grp = 0; grp < groups; ++grp) {
#if defined(__SSE2__)
        int32_t four;
        memcpy(&four, padded + 4 * grp, 4);
        const __m128i b = _mm_cvtsi32_si128(four);
        const __m128i w = _mm_srai_epi16(_mm_unpacklo_epi8(b, b), 8); /* sign-extended int8 -> int16 */
        _mm_storeu_si128((__m128i *)(void *)(out + 8 * grp), _mm_unpacklo_epi64(w, w));
#else
        const int16x4_t w = vget_low_s16(vmovl_s8(vreinterpret_s8_s32(vld1_dup_s32((const int32_t *)(const void *)(
            padded + 4 * grp)))));
        vst1q_s16(out + 8 * grp, vcombine_s16(w, w));
#endif
    }
}

/* [bias[g] + sum(w[g][i] * x[i]) for the four gates g] of one unit, 16 weights (4 inputs x 4 gates) per group
 * against the widen()ed input; `bias` may be 0 (none). */
static wc_v4 dot4(const int8_t *w, const int16_t *x, int32_t groups, const int32_t *bias) {
#if defined(__SSE2__)
    /* pmaddwd: eight int16 products added in pairs, so gates 0-1 (and 2-3) accumulate as [g g g' g'] int32 lanes. */
    __m128i a01 = _mm_setzero_si128(), a23 = _mm_setzero_si128();
    for (int32_t grp = 0; grp < groups; ++grp) {
        const __m128i w16 = _mm_loadu_si128((const __m128i *)(const void *)(w + 16 * grp));
        const __m128i x8 = _mm_loadu_si128((const __m128i *)(const void *)(x + 8 * grp));
        const __m128i w01 = _mm_srai_epi16(_mm_unpacklo_epi8(w16, w16), 8); /* sign-extended int8 -> int16 */
        const __m128i w23 = _mm_srai_epi16(_mm_unpackhi_epi8(w16, w16), 8);
        a01 = _mm_add_epi32(a01, _mm_madd_epi16(w01, x8));
        a23 = _mm_add_epi32(a23, _mm_madd_epi16(w23, x8));
    }
    /* [a01_0 + a01_1, a01_2 + a01_3, a23_0 + a23_1, a23_2 + a23_3] */
    const __m128 f01 = _mm_castsi128_ps(a01), f23 = _mm_castsi128_ps(a23);
    const __m128i sums = _mm_add_epi32(_mm_castps_si128(_mm_shuffle_ps(f01, f23, _MM_SHUFFLE(2, 0, 2, 0))),
                                       _mm_castps_si128(_mm_shuffle_ps(f01, f23, _MM_SHUFFLE(3, 1, 3, 1))));
#else
    /* NEON: widening multiply-accumulates, one int32x4 per gate, then pairwise adds. */
    int32x4_t a0 = vdupq_n_s32(0), a1 = a0, a2 = a0, a3 = a0;
    for (int32_t grp = 0; grp < groups; ++grp) {
        const int8x16_t w16 = vld1q_s8(w + 16 * grp);
        const int16x4_t x4 = vld1_s16(x + 8 * grp);
        const int16x8_t w01 = vmovl_s8(vget_low_s8(w16)), w23 = vmovl_s8(vget_high_s8(w16));
        a0 = vmlal_s16(a0, vget_low_s16(w01), x4);
        a1 = vmlal_s16(a1, vget_high_s16(w01), x4);
        a2 = vmlal_s16(a2, vget_low_s16(w23), x4);
        a3 = vmlal_s16(a3, vget_high_s16(w23), x4);
    }
    const int32x4_t sums = vpaddq_s32(vpaddq_s32(a0, a1), vpaddq_s32(a2, a3));
#endif
    return bias ? v4_add(sums, v4_load(bias)) : sums;
}
#else
#define WC_WIDE_LEN WC_MAX_STATE

/* An int8 vector as int16, zero-padded to WC_PADDED(n) and, in every group of four, in the order 0, 2, 1, 3:
 * the order in which the M4's SXTB16 unpacks four int8 weights, so one SMLAD does two multiply-adds. */
static void widen(const int8_t *x, int32_t n, int16_t *out) {
    for (int32_t i = 0; i < WC_PADDED(n); ++i) {
        static const int8_t order[4] = {0, 2, 1, 3};
        const int32_t k = (i & ~3) + order[i & 3];
        out[i] = k < n ? x[k] : 0;
    }
}

/* acc[g] = bias[g] + sum(w[g][i] * x[i]) for the four gates of one unit over a widen()ed input, 16 weights (4 inputs
 * x 4 gates) per group; `bias` may be 0 (none). */
static void dot4(const int8_t *w, const int16_t *x, int32_t groups, const int32_t *bias, int32_t acc[WC_GATES]) {
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    if (bias) {
        a0 = bias[0];
        a1 = bias[1];
        a2 = bias[2];
        a3 = bias[3];
    }
#if defined(__ARM_FEATURE_SIMD32)
    /* Per group: 2 inputs pairs and 4 weight words by LDRD with post-increment, SXTB16 unpacks weights 0,2 and
     * (rotated) 1,3, SMLAD does two multiply-adds: 21 instructions for 16 MACs. Needs word-aligned w and x. */
    if (groups > 0) {
        const int8_t *end = w + 16 * groups;
        uint32_t x02, x13, wa, wb, t;
        __asm__ volatile(
            "1:\n"
            "ldrd %[x02], %[x13], [%[x]], #8\n"
            "ldrd %[wa], %[wb], [%[w]], #8\n"
            "sxtb16 %[t], %[wa]\n"
            "sxtb16 %[wa], %[wa], ror #8\n"
            "smlad %[a0], %[t], %[x02], %[a0]\n"
            "smlad %[a0], %[wa], %[x13], %[a0]\n"
            "sxtb16 %[t], %[wb]\n"
            "sxtb16 %[wb], %[wb], ror #8\n"
            "smlad %[a1], %[t], %[x02], %[a1]\n"
            "smlad %[a1], %[wb], %[x13], %[a1]\n"
            "ldrd %[wa], %[wb], [%[w]], #8\n"
            "sxtb16 %[t], %[wa]\n"
            "sxtb16 %[wa], %[wa], ror #8\n"
            "smlad %[a2], %[t], %[x02], %[a2]\n"
            "smlad %[a2], %[wa], %[x13], %[a2]\n"
            "sxtb16 %[t], %[wb]\n"
            "sxtb16 %[wb], %[wb], ror #8\n"
            "smlad %[a3], %[t], %[x02], %[a3]\n"
            "smlad %[a3], %[wb], %[x13], %[a3]\n"
            "cmp %[w], %[end]\n"
            "bne 1b\n"
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w] "+r"(w), [x] "+r"(x),
              [x02] "=&r"(x02), [x13] "=&r"(x13), [wa] "=&r"(wa), [wb] "=&r"(wb), [t] "=&r"(t)
            : [end] "r"(end)
            : "cc", "memory");
    }
#else
    for (const int8_t *end = w + 16 * groups; w < end; w += 16, x += 4) {
        a0 += w[0] * x[0] + w[2] * x[1] + w[1] * x[2] + w[3] * x[3];
        a1 += w[4] * x[0] + w[6] * x[1] + w[5] * x[2] + w[7] * x[3];
        a2 += w[8] * x[0] + w[10] * x[1] + w[9] * x[2] + w[11] * x[3];
        a3 += w[12] * x[0] + w[14] * x[1] + w[13] * x[2] + w[15] * x[3];
    }
#endif
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}
#endif

/* One gate's pre-activation: the input and recurrent FCs rescaled to int16 Q3.12 each, then a saturating add. */
static inline int16_t pre_activation(int32_t from_x, wc_scale_t sx, int32_t from_h, wc_scale_t sh) {
    return (int16_t)wc_sat16(wc_sat16(wc_rescale(from_x, sx)) + wc_sat16(wc_rescale(from_h, sh)));
}

#if defined(WC_HOST_SIMD)
/* The table's entries i and i + 1 of each lane (the one gather: SSE2 and NEON have none). */
static inline void table_pairs(wc_v4 i, wc_v4 *lo, wc_v4 *hi) {
    int32_t at[4], low[4], high[4];
    v4_store(at, i);
    for (int32_t k = 0; k < 4; ++k) {
        low[k] = wc_sigmoid_table[at[k]];
        high[k] = wc_sigmoid_table[at[k] + 1];
    }
    *lo = v4_load(low);
    *hi = v4_load(high);
}

/* wc_sigmoid_q15 lane by lane, for Q3.12 inputs in int16 range. |3 v| < 2^17, so the table index a >> 9 stays
 * below 193 and the scalar version's index >= 255 branch never applies. */
static inline wc_v4 sigmoid4(wc_v4 v) {
    wc_v4 sign, lo, hi;
    const wc_v4 a = v4_abs(v4_add(v4_add(v, v), v), &sign);
    table_pairs(v4_sar(a, 9), &lo, &hi);
    const wc_v4 r = v4_add(v4_shl(lo, 9), v4_mul16(v4_and(a, v4_set1(0x1FF)), v4_sub(hi, lo)));
    /* x >= 0: r + 2^9; x < 0: 2^25 - r + 2^9 - 1 */
    const wc_v4 signed_r = v4_add(v4_sub(v4_xor(r, sign), sign), v4_and(sign, v4_set1((1 << 25) - 1)));
    return v4_sar(v4_add(signed_r, v4_set1(1 << 9)), 10);
}

/* wc_tanh_q15 lane by lane: the input (v * multiplier + round) >> shift may pass the table's end. */
static inline wc_v4 tanh4(wc_v4 v, int32_t multiplier, int32_t shift) {
    wc_v4 sign, lo, hi;
    const int32_t round = shift > 0 ? 1 << (shift - 1) : 0;
    const wc_v4 a = v4_abs(v4_sar(v4_add(v4_mul(v, v4_set1(multiplier)), v4_set1(round)), shift), &sign);
    const wc_v4 i = v4_sar(a, 8), beyond = v4_greater(i, v4_set1(254));
    table_pairs(v4_select(beyond, v4_set1(0), i), &lo, &hi);
    const wc_v4 inside = v4_add(v4_shl(lo, 8), v4_mul16(v4_and(a, v4_set1(0xFF)), v4_sub(hi, lo)));
    const wc_v4 r = v4_select(beyond, v4_set1(0xFFFF << 8), inside);
    /* x >= 0: r - 2^23 + 2^7; x < 0: -r + 2^23 + 2^7 - 1 */
    const wc_v4 signed_r = v4_add(v4_sub(v4_xor(r, sign), sign), v4_and(sign, v4_set1((1 << 24) - 1)));
    return v4_sar(v4_add(signed_r, v4_set1(-(1 << 23) + (1 << 7))), 8);
}

/* One time step of one layer: every unit's four gate sums, then the rest four units at a time (lanes past
 * state_dim compute on zeros and land in the padding of h_raw and c, which nothing reads). */
static void step(const wc_lstm_layer_t *layer, const int8_t *x_raw, int8_t *h_raw, int16_t *c) {
    const int32_t n_state = layer->state_dim, padded = WC_PADDED(n_state);
    const int32_t x_groups = WC_PADDED(layer->input_dim) / 4, h_groups = padded / 4;
    const wc_scale_t *sx = layer->input_scale, *sh = layer->recurrent_scale;
    int16_t x[WC_WIDE_LEN], h[WC_WIDE_LEN];
    int32_t ax[WC_MAX_STATE][WC_GATES], ah[WC_MAX_STATE][WC_GATES];
    widen(x_raw, layer->input_dim, x);
    widen(h_raw, n_state, h);
    const int8_t *wx = layer->input_weights, *wh = layer->recurrent_weights;
    const int32_t *bh = layer->recurrent_bias;
    for (int32_t j = 0; j < n_state; ++j) {
        v4_store(ax[j], dot4(wx + j * 16 * x_groups, x, x_groups, layer->input_bias + j * WC_GATES));
        v4_store(ah[j], dot4(wh + j * 16 * h_groups, h, h_groups, bh ? bh + j * WC_GATES : 0));
    }
    for (int32_t j = n_state; j < padded; ++j) {
        for (int32_t g = 0; g < WC_GATES; ++g) ax[j][g] = ah[j][g] = 0;
    }
    const int32_t clipped = layer->cell_clip > 0 && layer->cell_clip <= INT16_MAX;
    const int16_t low = (int16_t)(clipped ? -layer->cell_clip : INT16_MIN);
    const int16_t high = (int16_t)(clipped ? layer->cell_clip : INT16_MAX);
    for (int32_t j = 0; j < padded; j += 4) {
        wc_v4 gx[WC_GATES], gh[WC_GATES], gate[WC_GATES];
        for (int32_t k = 0; k < 4; ++k) {
            gx[k] = v4_load(ax[j + k]);
            gh[k] = v4_load(ah[j + k]);
        }
        v4_transpose(gx); /* now one vector per gate, one lane per unit */
        v4_transpose(gh);
        for (int32_t g = 0; g < WC_GATES; ++g) { /* the pre-activations, Q3.12 */
            gate[g] = v4_sat16(v4_add(v4_sat16(v4_rescale(gx[g], sx[g])), v4_sat16(v4_rescale(gh[g], sh[g]))));
        }
        const wc_v4 input_gate = sigmoid4(gate[0]), forget_gate = sigmoid4(gate[1]);
        const wc_v4 cell_gate = tanh4(gate[2], 3, 0), output_gate = sigmoid4(gate[3]);
        const int32_t old[4] = {c[j], c[j + 1], c[j + 2], c[j + 3]};
        const wc_v4 kept = v4_sat16(v4_rescale(v4_mul16(forget_gate, v4_load(old)), layer->forget_cell));
        const wc_v4 added = v4_sat16(v4_rescale(v4_mul16(input_gate, cell_gate), layer->input_cell));
        const wc_v4 cell = v4_sat16_clamp(v4_add(kept, added), low, high);
        int32_t cells[4];
        v4_store(cells, cell);
        for (int32_t k = 0; k < 4; ++k) c[j + k] = (int16_t)cells[k];
        const wc_v4 squashed = tanh4(cell, layer->tanh_multiplier, layer->tanh_shift);
        const wc_v4 hidden = v4_rescale(v4_mul16(squashed, output_gate), layer->hidden);
        v4_store_sat8(h_raw + j, v4_add(hidden, v4_set1(layer->hidden_zero_point)));
    }
}
#else
/* One time step of one layer, unit by unit: the four gates, then the unit's new cell (int16) and hidden (int8)
 * state in place. Writing h[j] early is safe: the recurrent FCs read the widened copy of the previous h. */
static void step(const wc_lstm_layer_t *layer, const int8_t *x_raw, int8_t *h_raw, int16_t *c) {
    const int32_t n_state = layer->state_dim;
    const int32_t x_groups = WC_PADDED(layer->input_dim) / 4, h_groups = WC_PADDED(n_state) / 4;
    const wc_scale_t *sx = layer->input_scale, *sh = layer->recurrent_scale;
    int16_t x[WC_WIDE_LEN] WC_ALIGN4, h[WC_WIDE_LEN] WC_ALIGN4; /* read by LDRD: word-aligned */
    widen(x_raw, layer->input_dim, x);
    widen(h_raw, n_state, h);
    const int8_t *wx = layer->input_weights, *wh = layer->recurrent_weights;
    const int32_t *bx = layer->input_bias, *bh = layer->recurrent_bias;
    for (int32_t j = 0; j < n_state; ++j, wx += 16 * x_groups, wh += 16 * h_groups, bx += WC_GATES) {
        int32_t ax[WC_GATES], ah[WC_GATES];
        dot4(wx, x, x_groups, bx, ax);
        dot4(wh, h, h_groups, bh ? bh + j * WC_GATES : 0, ah);
        const int32_t input_gate = wc_sigmoid_q15(pre_activation(ax[0], sx[0], ah[0], sh[0]));
        const int32_t forget_gate = wc_sigmoid_q15(pre_activation(ax[1], sx[1], ah[1], sh[1]));
        const int32_t cell_gate = wc_tanh_q15(pre_activation(ax[2], sx[2], ah[2], sh[2]), 3, 0);
        const int32_t output_gate = wc_sigmoid_q15(pre_activation(ax[3], sx[3], ah[3], sh[3]));

        const int32_t kept = wc_sat16(wc_rescale(forget_gate * c[j], layer->forget_cell));
        const int32_t added = wc_sat16(wc_rescale(input_gate * cell_gate, layer->input_cell));
        int32_t cell = wc_sat16(kept + added);
        if (layer->cell_clip > 0) cell = wc_clamp(cell, -layer->cell_clip, layer->cell_clip);
        c[j] = (int16_t)cell;
        const int32_t squashed = wc_tanh_q15((int16_t)cell, layer->tanh_multiplier, layer->tanh_shift);
        const int32_t hidden = wc_rescale(squashed * output_gate, layer->hidden) + layer->hidden_zero_point;
        h_raw[j] = (int8_t)wc_sat8(hidden);
    }
}

#endif

static int8_t residual_add(const wc_residual_t *r, int8_t dense, int8_t input) {
    const int32_t a = wc_rescale((int32_t)((uint32_t)(dense + r->dense_offset) << 20), r->dense_scale);
    const int32_t b = wc_rescale((int32_t)((uint32_t)(input + r->input_offset) << 20), r->input_scale);
    return (int8_t)wc_sat8(wc_rescale(a + b, r->output_scale) + r->output_offset);
}

int wc_predict(const wc_model_t *model, const int8_t *window, int8_t *output) {
    int8_t hidden[WC_MAX_LAYERS][WC_MAX_STATE];
    int16_t cell[WC_MAX_LAYERS][WC_MAX_STATE];
    if (model->n_layers == 0 || model->n_layers > WC_MAX_LAYERS) return WC_ERR_UNSUPPORTED;
    for (int32_t k = 0; k < model->n_layers; ++k) {
        const wc_lstm_layer_t *layer = &model->layers[k];
        if (WC_PADDED(layer->state_dim) > WC_MAX_STATE || WC_PADDED(layer->input_dim) > WC_MAX_STATE) {
            return WC_ERR_UNSUPPORTED;
        }
#if defined(WC_HOST_SIMD)
        const int32_t units = WC_PADDED(layer->state_dim); /* the host path computes the padding lanes too */
#else
        const int32_t units = layer->state_dim;
#endif
        for (int32_t j = 0; j < units; ++j) { /* the reset state: zero point and zero cell */
            hidden[k][j] = (int8_t)layer->hidden_zero_point;
            cell[k][j] = 0;
        }
    }
    /* Step t of every layer before step t + 1: layer k only needs layer k - 1's output at the same step. */
    for (int32_t t = 0; t < model->seq_len; ++t) {
        const int8_t *x = window + t * model->n_features;
        for (int32_t k = 0; k < model->n_layers; ++k) {
            step(&model->layers[k], x, hidden[k], cell[k]);
            x = hidden[k];
        }
    }
    const wc_lstm_layer_t *last = &model->layers[model->n_layers - 1];
    const int32_t acc = model->head_bias + dot(model->head_weights, hidden[model->n_layers - 1], last->state_dim);
    int8_t out = (int8_t)wc_sat8(wc_rescale(acc, model->head_scale) + model->head_output_offset);
    if (model->residual.enabled) out = residual_add(&model->residual, out, window[model->residual.input_index]);
    *output = out;
    return WC_OK;
}
