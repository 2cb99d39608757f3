/*
 * DWT cycle counter hook (Armv7-M / Armv8-M Data Watchpoint and Trace unit, CYCCNT).
 *
 * On a real Cortex-M4/M7/M55 this counts core clock cycles, so the example app can print the real
 * cycles per hop ("NB_CYCLES hop=<n> cycles=<c>") for `noisebudget calibrate`. QEMU does not model
 * the DWT: CYCCNT reads 0 there (the app then prints cycles=0 and measurement relies on
 * instruction counts). Registers: DEMCR.TRCENA (bit 24) enables the DWT; DWT_CTRL.CYCCNTENA (bit 0)
 * starts the counter; DWT_LAR unlocks the DWT on cores with a lock (Cortex-M7).
 * Define NB_CYCLES=0 to compile the hook out.
 */
#ifndef NB_CYCLES_H
#define NB_CYCLES_H

#include <stdint.h>

#ifndef NB_CYCLES
#if defined(__arm__)
#define NB_CYCLES 1
#else
#define NB_CYCLES 0 /* host builds: no DWT */
#endif
#endif

/* The line format `noisebudget calibrate` reads: printf(NB_CYCLES_LOG_FORMAT, hop, cycles) with
 * unsigned long arguments. */
#define NB_CYCLES_LOG_FORMAT "NB_CYCLES hop=%lu cycles=%lu\n"

#define NB_DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define NB_DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define NB_DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)
#define NB_DWT_LAR (*(volatile uint32_t *)0xE0001FB0u)

#if NB_CYCLES
static inline void nb_cycles_init(void)
{
    NB_DEMCR |= (1u << 24);
#if defined(__ARM_ARCH_7EM__)
    NB_DWT_LAR = 0xC5ACCE55u;
#endif
    NB_DWT_CYCCNT = 0u;
    NB_DWT_CTRL |= 1u;
}

static inline uint32_t nb_cycles_now(void) { return NB_DWT_CYCCNT; }
#else
static inline void nb_cycles_init(void) {}
static inline uint32_t nb_cycles_now(void) { return 0u; }
#endif

#endif /* NB_CYCLES_H */
