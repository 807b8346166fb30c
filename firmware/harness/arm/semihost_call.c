/* Semihosting: r0 = operation, r1 = argument block, `bkpt 0xAB` (Thumb); the debugger (QEMU) does the I/O. */
#include "semihost.h"

int32_t sh_call(int32_t op, const void *arg) {
    register int32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}
