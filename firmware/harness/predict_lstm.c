/* The harness's model: an int8 LSTM of firmware_assets/, chosen at build time (WC_MODEL, WC_MODEL_HEADER). */
#include "predict.h"

#include WC_MODEL_HEADER

const uint32_t predict_input_bytes = WC_SEQ_LEN * WC_N_FEATURES;

int predict_one(const void *window, int32_t *output) {
    int8_t out;
    const int rc = wc_predict(&WC_MODEL, (const int8_t *)window, &out);
    *output = out;
    return rc;
}
