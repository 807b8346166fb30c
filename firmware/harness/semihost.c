/* The semihosting calls the harness needs, the same on every core: the operation numbers and argument blocks are
 * Arm's (32-bit), which QEMU's RISC-V semihosting takes too. How a call reaches the debugger is the core's own:
 * sh_call in harness/<platform>/semihost_call.c. */
#include "semihost.h"

#define SYS_OPEN 0x01
#define SYS_CLOSE 0x02
#define SYS_WRITE0 0x04
#define SYS_READ 0x06
#define SYS_EXIT 0x18
#define ADP_STOPPED_APPLICATION_EXIT 0x20026
#define ADP_STOPPED_RUN_TIME_ERROR 0x20023
#define OPEN_MODE_RB 1
#define OPEN_MODE_WB 5

static uint32_t length(const char *s) {
    uint32_t n = 0;
    while (s[n]) ++n;
    return n;
}

int32_t sh_open(const char *path, int write) {
    const uint32_t block[3] = {(uint32_t)path, write ? OPEN_MODE_WB : OPEN_MODE_RB, length(path)};
    return sh_call(SYS_OPEN, block);
}

int32_t sh_read_exact(int32_t handle, void *buf, uint32_t len) {
    const uint32_t block[3] = {(uint32_t)handle, (uint32_t)buf, len};
    return sh_call(SYS_READ, block) == 0 ? 0 : -1; /* the call returns the bytes NOT read */
}

void sh_close(int32_t handle) {
    const uint32_t block[1] = {(uint32_t)handle};
    sh_call(SYS_CLOSE, block);
}

void sh_puts(const char *s) {
    sh_call(SYS_WRITE0, s);
}

void sh_exit(int32_t code) {
    sh_call(SYS_EXIT, (const void *)(code == 0 ? ADP_STOPPED_APPLICATION_EXIT : ADP_STOPPED_RUN_TIME_ERROR));
    for (;;) {
    }
}
