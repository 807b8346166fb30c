/* Cortex-M start-up for QEMU's Arm machines: vector table, reset handler (copy .data, zero .bss, enable the FPU and
 * Helium where the core has them), and fault handlers that end the emulation with an error instead of hanging. */
#include <stdint.h>

#include "semihost.h"

extern uint32_t __data_load__, __data_start__, __data_end__, __bss_start__, __bss_end__, __stack_top__;
int main(void);

#define CPACR (*(volatile uint32_t *)0xE000ED88u)

void reset_handler(void) {
    const uint32_t *src = &__data_load__;
    for (uint32_t *dst = &__data_start__; dst < &__data_end__;) *dst++ = *src++;
    for (uint32_t *dst = &__bss_start__; dst < &__bss_end__;) *dst++ = 0;
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    CPACR |= 0xFu << 20; /* CP10 and CP11: full access to the FPU (and MVE, which shares its registers) */
#endif
    __asm__ volatile("dsb\n isb");
    sh_exit(main());
}

static void fault_handler(void) {
    sh_puts("FAULT\n");
    sh_exit(1);
}

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(&__stack_top__), reset_handler, fault_handler, fault_handler, fault_handler, fault_handler,
    fault_handler, 0, 0, 0, 0, fault_handler, fault_handler, 0, fault_handler, fault_handler,
};
