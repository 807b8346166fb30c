/* Test harness (not part of the measured runtime): reads windows.bin over semihosting, runs each window, and
 * prints per window the output, the clock ticks it took and the stack it used (arch.h: the SysTick on Arm, instret
 * on RISC-V). Under `qemu -icount shift=0` the clock counts instructions in fixed steps; the "C" line calibrates
 * that step against a loop of known length.
 *
 * windows.bin: uint32 count, uint32 repeat, then count x predict_input_bytes. Each window runs `repeat` times (the
 * output is the last run's, the ticks are the total: divide for finer than one clock step). Output lines:
 *   C <ticks> <instructions>        the calibration loop
 *   W <output> <ticks> <stack bytes> one per window (ticks of all `repeat` runs)
 *   E <windows>                     the end */
#include <stdint.h>

#include "arch.h"
#include "predict.h"
#include "semihost.h"

#define MAX_INPUT_BYTES 1024u
#define STACK_PROBE_WORDS 1024u /* 4 KB below main's stack pointer are painted before each call */
#define STACK_PATTERN 0xA5C3E1F0u
#define CALIBRATION_LOOPS 50000u

/* 2 x CALIBRATION_LOOPS + 1 instructions between the two clock reads. */
static uint32_t calibration_ticks(void) {
    const uint32_t start = clock_now();
    counted_loop(CALIBRATION_LOOPS);
    return clock_since(start);
}

static char *put_int(char *p, int32_t v) {
    char digits[12];
    int n = 0;
    uint32_t u = v < 0 ? 0u - (uint32_t)v : (uint32_t)v;
    do {
        digits[n++] = (char)('0' + u % 10u);
        u /= 10u;
    } while (u);
    if (v < 0) *p++ = '-';
    while (n) *p++ = digits[--n];
    return p;
}

static void print_line(char tag, const int32_t *values, int n) {
    char line[64];
    char *p = line;
    *p++ = tag;
    for (int i = 0; i < n; ++i) {
        *p++ = ' ';
        p = put_int(p, values[i]);
    }
    *p++ = '\n';
    *p = 0;
    sh_puts(line);
}

int main(void) {
    static uint32_t window[MAX_INPUT_BYTES / 4];
    clock_start();

    const int32_t calibration[2] = {(int32_t)calibration_ticks(), (int32_t)(2u * CALIBRATION_LOOPS + 1u)};
    print_line('C', calibration, 2);

    const int32_t in = sh_open("windows.bin", 0);
    uint32_t header[2]; /* count, repeat */
    if (in < 0 || predict_input_bytes > MAX_INPUT_BYTES || sh_read_exact(in, header, sizeof header) != 0) {
        sh_puts("ERROR cannot read windows.bin\n");
        return 1;
    }
    const uint32_t count = header[0], repeat = header[1] ? header[1] : 1u;
    for (uint32_t k = 0; k < count; ++k) {
        if (sh_read_exact(in, window, predict_input_bytes) != 0) {
            sh_puts("ERROR windows.bin is shorter than its count\n");
            return 1;
        }
        const uint32_t sp = stack_pointer();
        volatile uint32_t *const low = (volatile uint32_t *)(sp - 4u * STACK_PROBE_WORDS);
        for (uint32_t i = 0; i < STACK_PROBE_WORDS; ++i) low[i] = STACK_PATTERN;

        int32_t output = 0;
        int rc = 0;
        const uint32_t start = clock_now();
        for (uint32_t r = 0; r < repeat && rc == 0; ++r) rc = predict_one(window, &output);
        const uint32_t ticks = clock_since(start);

        uint32_t untouched = 0;
        while (untouched < STACK_PROBE_WORDS && low[untouched] == STACK_PATTERN) ++untouched;
        if (rc != 0) {
            sh_puts("ERROR the model refused the window\n");
            return 1;
        }
        const int32_t result[3] = {output, (int32_t)ticks, (int32_t)(4u * (STACK_PROBE_WORDS - untouched))};
        print_line('W', result, 3);
    }
    sh_close(in);
    const int32_t end[1] = {(int32_t)count};
    print_line('E', end, 1);
    return 0;
}
