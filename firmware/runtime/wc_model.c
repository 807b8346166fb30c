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
    int16_t x[WC_MAX_STATE] WC_ALIGN4, h[WC_MAX_STATE] WC_ALIGN4; /* read by LDRD: word-aligned */
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
