/*
 * Pipeline-stage markers for instruction counting (noisebudget).
 *
 *   NB_HOP_BEGIN();  NB_STAGE_BEGIN(NB_STAGE_FRONTEND); ...; NB_STAGE_END(NB_STAGE_FRONTEND); ... NB_HOP_END();
 *
 * Each marker stores one byte to nb_stage_marks[2*id + end] with a fixed 4-instruction sequence
 * (MOVW, MOVT, STRB, ISB). The QEMU plugin (convert/qemu_plugin/nbcount.c) watches stores to that
 * array, attributes every executed instruction to the innermost open stage and counts the 4 marker
 * instructions separately, so the markers add nothing to a stage's instruction count. The ISB ends
 * QEMU's translation block (and flushes the pipeline on a real core: a few cycles per marker there).
 *
 * Rules: `id` is an integer constant expression in [1, NB_STAGE_MAX_IDS); id 0 is the hop
 * (NB_HOP_BEGIN/END). Stages nest properly (END closes the innermost open stage). Define
 * NB_STAGE_MARKERS=0 to compile all markers out (production builds).
 */
#ifndef NB_STAGE_H
#define NB_STAGE_H

#include <stdint.h>

#define NB_STAGE_MAX_IDS 64

#ifndef NB_STAGE_MARKERS
#if defined(__arm__) && defined(__thumb2__)
#define NB_STAGE_MARKERS 1
#else
#define NB_STAGE_MARKERS 0 /* host builds: markers compile to nothing */
#endif
#endif

#if NB_STAGE_MARKERS
/* Defined in nb_startup.c, in the .nb_marks (NOLOAD) section: never zeroed by start-up code. */
extern volatile uint8_t nb_stage_marks[2 * NB_STAGE_MAX_IDS];

#define NB__MARK(code)                                                                        \
    do {                                                                                      \
        uint32_t nb__tmp;                                                                     \
        __asm__ volatile("movw %0, #:lower16:(nb_stage_marks+%c1)\n\t"                        \
                         "movt %0, #:upper16:(nb_stage_marks+%c1)\n\t"                        \
                         "strb %0, [%0]\n\t"                                                  \
                         "isb"                                                                \
                         : "=&r"(nb__tmp)                                                     \
                         : "i"(code)                                                          \
                         : "memory");                                                         \
        (void)nb__tmp;                                                                        \
    } while (0)

#define NB_STAGE_BEGIN(id) NB__MARK(2 * (id))
#define NB_STAGE_END(id) NB__MARK(2 * (id) + 1)
#else
#define NB_STAGE_BEGIN(id) ((void)0)
#define NB_STAGE_END(id) ((void)0)
#endif

#define NB_HOP_BEGIN() NB_STAGE_BEGIN(0)
#define NB_HOP_END() NB_STAGE_END(0)

#endif /* NB_STAGE_H */
