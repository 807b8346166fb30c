/* wattcast's own int8 inference runtime: TFLite's full-integer LSTM stack with a dense head (and the MCU model's
 * residual add), integer arithmetic only, C99, no allocation, no libc, no dependency.
 *
 * It follows TensorFlow Lite (Micro)'s integer kernels step for step (gate matmuls rescaled by a Q31 multiplier and
 * shift to int16 Q3.12, its table sigmoid/tanh to int16 Q0.15, an int16 cell, an int8 hidden state), so its outputs
 * equal tflite-micro's. The constants of a model come from `python -m convert.c_runtime` (firmware_assets/<m>_wc.c).
 * Every call starts from a zero state: one window, one forecast, nothing kept between calls. */
#ifndef WATTCAST_WC_MODEL_H
#define WATTCAST_WC_MODEL_H

#include <stdint.h>

/* Largest input/state width and stack depth the stack-allocated working state holds (raise them for bigger models;
 * multiples of 4). */
#ifndef WC_MAX_STATE
#define WC_MAX_STATE 32
#endif
#ifndef WC_MAX_LAYERS
#define WC_MAX_LAYERS 2
#endif

/* Weight arrays are word-aligned so the M4 loads four weights at once. */
#if defined(__GNUC__) || defined(__clang__)
#define WC_ALIGN4 __attribute__((aligned(4)))
#else
#define WC_ALIGN4
#endif

#define WC_OK 0
#define WC_ERR_UNSUPPORTED 1 /* no layer, or wider or deeper than WC_MAX_STATE / WC_MAX_LAYERS */

/* A real multiplier as TFLite stores it: multiplier / 2^31 * 2^shift, multiplier in [2^30, 2^31). */
typedef struct {
    int32_t multiplier;
    int32_t shift;
} wc_scale_t;

/* One fused LSTM layer. Gates in the order input, forget, cell, output. Weights are grouped per unit (state element)
 * and per 4 inputs (zero-padded to WC_PADDED(dim)): [unit][input / 4][gate][4], so 16 bytes hold the four gates'
 * weights for the same 4 inputs. */
#define WC_PADDED(n) (((n) + 3) & ~3)
typedef struct {
    uint16_t input_dim;
    uint16_t state_dim;
    const int8_t *input_weights;     /* [state_dim][WC_PADDED(input_dim) / 4][4][4] */
    const int8_t *recurrent_weights; /* [state_dim][WC_PADDED(state_dim) / 4][4][4] */
    const int32_t *input_bias;       /* [state_dim][4], the input zero point folded in */
    const int32_t *recurrent_bias;   /* [state_dim][4], the hidden zero point folded in; 0: all zero */
    wc_scale_t input_scale[4];       /* input FC accumulator -> gate pre-activation (Q3.12) */
    wc_scale_t recurrent_scale[4];   /* recurrent FC accumulator -> gate pre-activation (Q3.12) */
    wc_scale_t forget_cell;          /* forget gate x cell -> cell */
    wc_scale_t input_cell;           /* input gate x cell gate -> cell */
    wc_scale_t hidden;               /* tanh(cell) x output gate -> hidden */
    int32_t hidden_zero_point;
    int32_t cell_clip;               /* |cell| limit in cell units; 0: no clip */
    int32_t tanh_multiplier;         /* cell -> tanh input: (cell * multiplier + round) >> shift */
    int32_t tanh_shift;
} wc_lstm_layer_t;

/* out = in1 + in2 the TFLite int8 ADD way (both inputs rescaled to 2^20 first). */
typedef struct {
    int32_t enabled;
    int32_t input_index;             /* the window element added to the dense output */
    int32_t dense_offset, input_offset, output_offset;
    wc_scale_t dense_scale, input_scale, output_scale;
} wc_residual_t;

typedef struct {
    uint16_t seq_len;
    uint16_t n_features;
    uint16_t n_layers;
    const wc_lstm_layer_t *layers;
    const int8_t *head_weights;      /* [state_dim of the last layer] */
    int32_t head_bias;               /* its input zero point folded in */
    wc_scale_t head_scale;
    int32_t head_output_offset;
    wc_residual_t residual;
} wc_model_t;

/* One forecast from an int8 window laid out [seq_len][n_features] (quantized with the model's input scale and zero
 * point); writes the int8 output (the model's output scale and zero point). Returns WC_OK or WC_ERR_UNSUPPORTED. */
int wc_predict(const wc_model_t *model, const int8_t *window, int8_t *output);

#endif /* WATTCAST_WC_MODEL_H */
