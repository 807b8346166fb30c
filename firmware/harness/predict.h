/* What the harness needs from a model: its input size in bytes and one forecast (the firmware's own code). */
#ifndef WATTCAST_PREDICT_H
#define WATTCAST_PREDICT_H

#include <stdint.h>

extern const uint32_t predict_input_bytes;
/* One forecast from one raw window; returns 0 on success. */
int predict_one(const void *window, int32_t *output);

#endif /* WATTCAST_PREDICT_H */
