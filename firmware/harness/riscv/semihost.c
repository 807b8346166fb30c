/* RISC-V semihosting: a0 = operation, a1 = argument block, and the uncompressed `slli x0, x0, 0x1f; ebreak;
 * srai x0, x0, 7` sequence (in one page) that tells the debugger (QEMU with -semihosting-config enable=on) that this
 * ebreak is a semihosting call. The operations and argument blocks are Arm's, 32-bit. */
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

static int32_t call(int32_t op, const void *arg) {
    register int32_t a0 __asm__("a0") = op;
    register const void *a1 __asm__("a1") = arg;
    __asm__ volatile(
        ".option push\n"
        ".option norvc\n"
        ".balign 16\n"
        "slli x0, x0, 0x1f\n"
        "ebreak\n"
        "srai x0, x0, 7\n"
        ".option pop\n"
        : "+r"(a0)
        : "r"(a1)
        : "memory");
    return a0;
}
static uint32_t length(const char *s) {
    uint32_t n = 0;
    while (s[n]) ++n;
    return n;
}

int32_t sh_open(const char *path, int write) {
    const uint32_t block[3] = {(uint32_t)path, write ? OPEN_MODE_WB : OPEN_MODE_RB, length(path)};
    return call(SYS_OPEN, block);
}

int32_t sh_read_exact(int32_t handle, void *buf, uint32_t len) {
    const uint32_t block[3] = {(uint32_t)handle, (uint32_t)buf, len};
    return call(SYS_READ, block) == 0 ? 0 : -1; /* the call returns the bytes NOT read */
}

void sh_close(int32_t handle) {
    const uint32_t block[1] = {(uint32_t)handle};
    call(SYS_CLOSE, block);
}

void sh_puts(const char *s) {
    call(SYS_WRITE0, s);
}

void sh_exit(int32_t code) {
    call(SYS_EXIT, (const void *)(code == 0 ? ADP_STOPPED_APPLICATION_EXIT : ADP_STOPPED_RUN_TIME_ERROR));
    for (;;) {
    }
}
