/* RISC-V semihosting: a0 = operation, a1 = argument block, and the uncompressed `slli x0, x0, 0x1f; ebreak;
 * srai x0, x0, 7` sequence (in one page) that tells the debugger (QEMU with -semihosting-config enable=on) that this
 * ebreak is a semihosting call. The operations and argument blocks are Arm's, 32-bit. */
#include "semihost.h"

int32_t sh_call(int32_t op, const void *arg) {
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
