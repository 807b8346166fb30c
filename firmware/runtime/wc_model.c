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
 * and one group's 16 weights (gates 0-1, then 2-3) multiply it as two vectors of eight int16. The sums are the same
 * integers in another order: the outputs do not change (tests/test_firmware_aarch64.py, test_wattcast_runtime.py). */
#if defined(__SSE2__)
#include <emmintrin.h>
#else
#include <arm_neon.h>
#endif
#define WC_WIDE_LEN (2 * WC_MAX_STATE)

/* out[8 * group + j] = x[4 * group + j % 4], zero past n. */
static void widen(const int8_t *x, int32_t n, int16_t *out) {
    for (int32_t i = 0; i < 2 * WC_PADDED(n); ++i) {
        const int32_t k = (i >> 3) * 4 + (i & 3);
        out[i] = k < n ? x[k] : 0;
    }
}

/* acc[g] = bias[g] + sum(w[g][i] * x[i]) for the four gates of one unit, 16 weights (4 inputs x 4 gates) per group
 * against the widen()ed input; `bias` may be 0 (none). */
static void dot4(const int8_t *w, const int16_t *x, int32_t groups, const int32_t *bias, int32_t acc[WC_GATES]) {
    int32_t sums[WC_GATES];
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
    int32_t lanes[8];
    _mm_storeu_si128((__m128i *)(void *)lanes, a01);
    _mm_storeu_si128((__m128i *)(void *)(lanes + 4), a23);
    for (int32_t g = 0; g < WC_GATES; ++g) sums[g] = lanes[2 * g] + lanes[2 * g + 1];
#else
    /* NEON: widening multiply-accumulates, one int32x4 per gate. */
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
    sums[0] = vaddvq_s32(a0);
    sums[1] = vaddvq_s32(a1);
    sums[2] = vaddvq_s32(a2);
    sums[3] = vaddvq_s32(a3);
#endif
    for (int32_t g = 0; g < WC_GATES; ++g) acc[g] = (bias ? bias[g] : 0) + sums[g];
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
        for (int32_t j = 0; j < layer->state_dim; ++j) { /* the reset state: zero point and zero cell */
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
