/* Hosted driver (not part of the measured runtime): the same predict_one as the firmware harness, built for a Linux
 * machine (the Pi's aarch64, run under qemu-user when cross-built) with a C library. Reads the firmware harness's
 * windows file (uint32 count, uint32 repeat, then count x predict_input_bytes; repeat is ignored) named by argv[1]
 * and prints one line per window, "W <output>", then "E <windows>". Exit status 1 on a bad file or a refused
 * window (the message on stderr). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "predict.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s windows.bin\n", argv[0]);
        return 1;
    }
    FILE *in = fopen(argv[1], "rb");
    uint32_t header[2];
    if (!in || fread(header, sizeof header[0], 2, in) != 2) {
        fprintf(stderr, "cannot read the header of %s\n", argv[1]);
        return 1;
    }
    uint32_t window[1024 / 4];
    if (predict_input_bytes > sizeof window) {
        fprintf(stderr, "a window of %u bytes is too big\n", (unsigned)predict_input_bytes);
        return 1;
    }
    for (uint32_t i = 0; i < header[0]; ++i) {
        int32_t output = 0;
        if (fread(window, 1, predict_input_bytes, in) != predict_input_bytes) {
            fprintf(stderr, "window %u of %u is missing\n", (unsigned)i, (unsigned)header[0]);
            return 1;
        }
        if (predict_one(window, &output) != 0) {
            fprintf(stderr, "window %u refused\n", (unsigned)i);
            return 1;
        }
        printf("W %d\n", (int)output);
    }
    printf("E %u\n", (unsigned)header[0]);
    fclose(in);
    return 0;
}
