/*
 * Minimal start-up for the QEMU Cortex-M boards (mps2-an386 = M4, mps2-an500 = M7,
 * mps3-an547 = M55) and for real parts with the same memory layout: vector table, reset handler
 * (copy .data, zero .bss, enable the FPU, semihosting I/O), fault handlers that report through
 * semihosting and exit with code 3 (so a crash is never mistaken for success).
 *
 * Output: newlib with rdimon (--specs=rdimon.specs), i.e. ARM semihosting (BKPT 0xAB); run QEMU with
 * `-semihosting-config enable=on,target=native`.
 */
#include <stdint.h>
#include <stdlib.h>

#include "nb_stage.h"

extern uint32_t __etext_data; /* load address of .data */
extern uint32_t __data_start__, __data_end__, __bss_start__, __bss_end__, __stack_top__;

extern int main(void);
extern void initialise_monitor_handles(void);
void nb_semihost_exit(int code);

#if NB_STAGE_MARKERS
volatile uint8_t nb_stage_marks[2 * NB_STAGE_MAX_IDS] __attribute__((section(".nb_marks"), used));
#endif

__attribute__((noreturn)) void Reset_Handler(void);
void NB_Fault_Handler(void);
void NB_Default_Handler(void);

void NMI_Handler(void) __attribute__((weak, alias("NB_Default_Handler")));
void HardFault_Handler(void) __attribute__((weak, alias("NB_Fault_Handler")));
void MemManage_Handler(void) __attribute__((weak, alias("NB_Fault_Handler")));
void BusFault_Handler(void) __attribute__((weak, alias("NB_Fault_Handler")));
void UsageFault_Handler(void) __attribute__((weak, alias("NB_Fault_Handler")));
void SecureFault_Handler(void) __attribute__((weak, alias("NB_Fault_Handler")));
void SVC_Handler(void) __attribute__((weak, alias("NB_Default_Handler")));
void DebugMon_Handler(void) __attribute__((weak, alias("NB_Default_Handler")));
void PendSV_Handler(void) __attribute__((weak, alias("NB_Default_Handler")));
void SysTick_Handler(void) __attribute__((weak, alias("NB_Default_Handler")));

typedef void (*nb_vector_t)(void);

/* 16 system exceptions + 32 external interrupts (all routed to the default handler). */
__attribute__((section(".isr_vector"), used)) const nb_vector_t nb_vectors[16 + 32] = {
    (nb_vector_t)(uintptr_t)&__stack_top__,
    Reset_Handler,
    NMI_Handler,
    HardFault_Handler,
    MemManage_Handler,
    BusFault_Handler,
    UsageFault_Handler,
    SecureFault_Handler,
    0,
    0,
    0,
    SVC_Handler,
    DebugMon_Handler,
    0,
    PendSV_Handler,
    SysTick_Handler,
    [16 ... 47] = NB_Default_Handler,
};

/* ARM semihosting call: r0 = operation, r1 = parameter block; BKPT 0xAB on M-profile. */
static inline int nb_semihost_call(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

/* SYS_EXIT_EXTENDED (0x20): ADP_Stopped_ApplicationExit (0x20026) with an exit code. */
__attribute__((noreturn)) void nb_semihost_exit(int code)
{
    const uint32_t block[2] = {0x20026u, (uint32_t)code};
    for (;;) {
        nb_semihost_call(0x20, block);
    }
}

static void nb_semihost_write0(const char *s) { nb_semihost_call(0x04, s); }

void NB_Fault_Handler(void)
{
    nb_semihost_write0("nb: fault (HardFault/MemManage/BusFault/UsageFault)\n");
    nb_semihost_exit(3);
}

void NB_Default_Handler(void)
{
    nb_semihost_write0("nb: unexpected exception\n");
    nb_semihost_exit(3);
}

/* newlib's exit() ends in _exit(); route it through SYS_EXIT_EXTENDED so QEMU returns the code. */
void _exit(int code) { nb_semihost_exit(code); }

__attribute__((noreturn)) void Reset_Handler(void)
{
    uint32_t *src = &__etext_data;
    for (uint32_t *dst = &__data_start__; dst < &__data_end__;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &__bss_start__; dst < &__bss_end__;) {
        *dst++ = 0u;
    }
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    /* CPACR: full access to CP10/CP11 (FPU and MVE). */
    *(volatile uint32_t *)0xE000ED88u |= (0xFu << 20);
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    initialise_monitor_handles();
    exit(main());
}
