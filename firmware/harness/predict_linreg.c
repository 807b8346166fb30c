/* The harness's model: the Q15 lag linear regression of firmware_assets/linreg.c on int16 Q15 windows. */
#include "predict.h"

#include "linreg.h"

const uint32_t predict_input_bytes = LINREG_N_TERMS * sizeof(int16_t);

int predict_one(const void *window, int32_t *output) {
    *output = linreg_predict_q15((const int16_t *)window);
    return 0;
}
