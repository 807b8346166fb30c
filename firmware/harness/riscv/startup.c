/* RV32 start-up for QEMU's `virt` machine (-bios none: it jumps to the image's first byte at 0x80000000): global and
 * stack pointers, zeroed .bss, a trap handler that ends the emulation with an error instead of hanging. */
#include <stdint.h>

#include "semihost.h"

extern uint32_t __bss_start__, __bss_end__;
int main(void);

static void trap_handler(void) __attribute__((interrupt("machine"), aligned(4)));

static void trap_handler(void) {
    sh_puts("FAULT\n");
    sh_exit(1);
}

void reset_handler(void) {
    for (uint32_t *dst = &__bss_start__; dst < &__bss_end__;) *dst++ = 0;
    __asm__ volatile(".option push\n.option arch, +zicsr\ncsrw mtvec, %0\n.option pop" : : "r"(trap_handler));
    sh_exit(main());
}

__attribute__((naked, section(".text.start"))) void _start(void) {
    __asm__ volatile(
        ".option push\n"
        ".option norelax\n"
        "la gp, __global_pointer$\n"
        ".option pop\n"
        "la sp, __stack_top__\n"
        "j reset_handler\n");
}
