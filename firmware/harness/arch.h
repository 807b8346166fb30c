/* What the harness needs from the core beyond C: an instruction clock and the stack pointer. Arm: the SysTick
 * (24 bits, counting down, on the processor clock; under `qemu -icount shift=0` one step is a fixed number of
 * instructions); RISC-V: the instret counter (one step per retired instruction). */
#ifndef WATTCAST_ARCH_H
#define WATTCAST_ARCH_H

#include <stdint.h>

#if defined(__riscv)

#define CLOCK_MASK 0xFFFFFFFFu

static inline void clock_start(void) {
}

static inline uint32_t clock_now(void) {
    uint32_t v;
    __asm__ volatile(".option push\n.option arch, +zicsr\ncsrr %0, minstret\n.option pop" : "=r"(v));
    return v;
}

static inline uint32_t stack_pointer(void) {
    uint32_t sp;
    __asm__ volatile("mv %0, sp" : "=r"(sp));
    return sp;
}

/* 2 x loops + 1 instructions (li, then addi/bnez pairs). */
static inline void counted_loop(uint32_t loops) {
    __asm__ volatile("mv t0, %0\n1: addi t0, t0, -1\n bnez t0, 1b" : : "r"(loops) : "t0");
}

#else /* Arm M-profile */

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define CLOCK_MASK 0xFFFFFFu

static inline void clock_start(void) {
    SYST_RVR = CLOCK_MASK;
    SYST_CVR = 0;
    SYST_CSR = 0x5u; /* enabled, processor clock, no interrupt */
}

static inline uint32_t clock_now(void) {
    return CLOCK_MASK - SYST_CVR; /* SysTick counts down: as an up-counter */
}

static inline uint32_t stack_pointer(void) {
    uint32_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    return sp;
}

/* 2 x loops + 1 instructions (mov, then subs/bne pairs). gcc writes Thumb-1 (v6-M) in the divided syntax, where the
 * flag-setting subtract is spelled `sub`. */
#if __ARM_ARCH_ISA_THUMB == 1
#define WC_SUBS_ONE "sub r0, #1"
#else
#define WC_SUBS_ONE "subs r0, r0, #1"
#endif
static inline void counted_loop(uint32_t loops) {
    __asm__ volatile("mov r0, %0\n1: " WC_SUBS_ONE "\n bne 1b" : : "r"(loops) : "r0", "cc");
}

#endif

static inline uint32_t clock_since(uint32_t start) {
    return (clock_now() - start) & CLOCK_MASK;
}

#endif /* WATTCAST_ARCH_H */
