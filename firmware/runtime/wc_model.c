/* wattcast's int8 LSTM runtime; see wc_model.h for what it computes and why it matches TFLite Micro. */
#include "wc_model.h"

#include "wc_activations.h"
#include "wc_fixed.h"

#define WC_GATES 4
#define WC_GATE_CELL 2 /* the gate with the tanh activation; the others use the sigmoid */

/* sum(w[i] * x[i]): the inner loop of every matmul. */
static int32_t dot(const int8_t *w, const int8_t *x, int32_t n) {
    int32_t acc = 0;
    for (int32_t i = 0; i < n; ++i) {
        acc += (int32_t)w[i] * (int32_t)x[i];
    }
    return acc;
}

/* The four gate activations of one step from the input x and the previous hidden state h (int16, Q0.15). */
static void gates(const wc_lstm_layer_t *layer, const int8_t *x, const int8_t *h,
                  int16_t out[WC_GATES][WC_MAX_STATE]) {
    const int32_t n_in = layer->input_dim, n_state = layer->state_dim;
    for (int32_t g = 0; g < WC_GATES; ++g) {
        const int8_t *wx = layer->input_weights + g * n_state * n_in;
        const int8_t *wh = layer->recurrent_weights + g * n_state * n_state;
        const int32_t *bx = layer->input_bias + g * n_state;
        const int32_t *bh = layer->recurrent_bias ? layer->recurrent_bias + g * n_state : 0;
        for (int32_t j = 0; j < n_state; ++j) {
            /* Two FCs, each rescaled to int16 on its own, then a saturating add: as TFLite does. */
            const int32_t from_x = wc_clamp(wc_rescale(bx[j] + dot(wx + j * n_in, x, n_in), layer->input_scale[g]),
                                            INT16_MIN, INT16_MAX);
            const int32_t from_h = wc_clamp(wc_rescale((bh ? bh[j] : 0) + dot(wh + j * n_state, h, n_state),
                                                       layer->recurrent_scale[g]), INT16_MIN, INT16_MAX);
            const int16_t pre = (int16_t)wc_clamp(from_x + from_h, INT16_MIN, INT16_MAX);
            out[g][j] = g == WC_GATE_CELL ? wc_tanh_q15(pre, 3, 0) : wc_sigmoid_q15(pre);
        }
    }
}

/* One time step of one layer: new cell state (int16) and hidden state (int8) in place. */
static void step(const wc_lstm_layer_t *layer, const int8_t *x, int8_t *h, int16_t *c) {
    int16_t g[WC_GATES][WC_MAX_STATE];
    gates(layer, x, h, g);
    const int32_t clip = layer->cell_clip;
    for (int32_t j = 0; j < layer->state_dim; ++j) {
        const int32_t kept = wc_clamp(wc_rescale((int32_t)g[1][j] * c[j], layer->forget_cell), INT16_MIN, INT16_MAX);
        const int32_t added = wc_clamp(wc_rescale((int32_t)g[0][j] * g[2][j], layer->input_cell), INT16_MIN,
                                       INT16_MAX);
        int32_t cell = wc_clamp(kept + added, INT16_MIN, INT16_MAX);
        if (clip > 0) cell = wc_clamp(cell, -clip, clip);
        c[j] = (int16_t)cell;
        const int16_t squashed = wc_tanh_q15((int16_t)cell, layer->tanh_multiplier, layer->tanh_shift);
        const int32_t hidden = wc_rescale((int32_t)squashed * g[3][j], layer->hidden) + layer->hidden_zero_point;
        h[j] = (int8_t)wc_clamp(hidden, INT8_MIN, INT8_MAX);
    }
}

static int8_t residual_add(const wc_residual_t *r, int8_t dense, int8_t input) {
    const int32_t a = wc_rescale((int32_t)((uint32_t)(dense + r->dense_offset) << 20), r->dense_scale);
    const int32_t b = wc_rescale((int32_t)((uint32_t)(input + r->input_offset) << 20), r->input_scale);
    return (int8_t)wc_clamp(wc_rescale(a + b, r->output_scale) + r->output_offset, INT8_MIN, INT8_MAX);
}

int wc_predict(const wc_model_t *model, const int8_t *window, int8_t *output) {
    int8_t hidden[WC_MAX_LAYERS][WC_MAX_STATE];
    int16_t cell[WC_MAX_LAYERS][WC_MAX_STATE];
    if (model->n_layers > WC_MAX_LAYERS) return WC_ERR_TOO_LARGE;
    for (int32_t k = 0; k < model->n_layers; ++k) {
        const wc_lstm_layer_t *layer = &model->layers[k];
        if (layer->state_dim > WC_MAX_STATE) return WC_ERR_TOO_LARGE;
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
    int8_t out = (int8_t)wc_clamp(wc_rescale(acc, model->head_scale) + model->head_output_offset, INT8_MIN, INT8_MAX);
    if (model->residual.enabled) out = residual_add(&model->residual, out, window[model->residual.input_index]);
    *output = out;
    return WC_OK;
}
