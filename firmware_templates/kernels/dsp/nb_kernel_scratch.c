/* nb_kernel_scratch.c - the static scratch buffer of the DSP kernel variants (see nb_dsp.h) and, on
 * Armv7E-M / Armv8-M with the DSP extension, the hand-scheduled 2x2 SMLAD dot-product loop of
 * nb_dsp_gemm.h (nb_dsp_dot2x2: in assembly so that all 14 working values stay in registers) and the 4x2
 * loop of the blocked int16-weight GEMM (nb_dsp_dot4x2). */
#include "nb_dsp.h"

#if defined(__GNUC__)
__attribute__((aligned(8)))
#endif
int32_t nb_kernel_scratch[(NB_KERNEL_SCRATCH_BYTES + 3) / 4];

#if NB_DSP_NATIVE && defined(__thumb2__)
/*
 * void nb_dsp_dot2x2(const int32_t *cab, const int8_t *w0, const int8_t *w1, int32_t groups, int32_t acc[4])
 * groups >= 1 groups of 4 depth values. cab: per group (a02, a13, b02, b13) (two interleaved int16 columns,
 * SXTB16 order); w0/w1: two int8 filter rows. acc = {a0, a1, b0, b1} (in/out):
 * a0 += w0 . col_a, a1 += w1 . col_a, b0 += w0 . col_b, b1 += w1 . col_b (SMLAD: wrapping int32 sums).
 * Two groups per iteration (an odd count enters in the middle).
 */
__asm__(
    "    .section .text.nb_dsp_dot2x2,\"ax\",%progbits\n"
    "    .global nb_dsp_dot2x2\n"
    "    .type nb_dsp_dot2x2, %function\n"
    "    .thumb\n"
    "    .thumb_func\n"
    "    .p2align 2\n"
    "nb_dsp_dot2x2:\n"
    "    push {r4-r11, lr}\n"
    "    ldr r12, [sp, #36]\n"
    "    ldm r12, {r4, r5, r6, r7}\n"
    "    lsrs r3, r3, #1\n"           /* r3 = groups / 2, C = groups & 1 */
    "    bcc 1f\n"
    "    adds r3, r3, #1\n"
    "    b 2f\n"
    "1:\n"
    "    ldm r0!, {r8, r9, r10, r11}\n"
    "    ldr lr, [r1], #4\n"
    "    sxtb16 r12, lr\n"
    "    smlad r4, r12, r8, r4\n"
    "    smlad r6, r12, r10, r6\n"
    "    sxtb16 lr, lr, ror #8\n"
    "    smlad r4, lr, r9, r4\n"
    "    smlad r6, lr, r11, r6\n"
    "    ldr lr, [r2], #4\n"
    "    sxtb16 r12, lr\n"
    "    smlad r5, r12, r8, r5\n"
    "    smlad r7, r12, r10, r7\n"
    "    sxtb16 lr, lr, ror #8\n"
    "    smlad r5, lr, r9, r5\n"
    "    smlad r7, lr, r11, r7\n"
    "2:\n"
    "    ldm r0!, {r8, r9, r10, r11}\n"
    "    ldr lr, [r1], #4\n"
    "    sxtb16 r12, lr\n"
    "    smlad r4, r12, r8, r4\n"
    "    smlad r6, r12, r10, r6\n"
    "    sxtb16 lr, lr, ror #8\n"
    "    smlad r4, lr, r9, r4\n"
    "    smlad r6, lr, r11, r6\n"
    "    ldr lr, [r2], #4\n"
    "    sxtb16 r12, lr\n"
    "    smlad r5, r12, r8, r5\n"
    "    smlad r7, r12, r10, r7\n"
    "    sxtb16 lr, lr, ror #8\n"
    "    smlad r5, lr, r9, r5\n"
    "    smlad r7, lr, r11, r7\n"
    "    subs r3, r3, #1\n"
    "    bne 1b\n"
    "    ldr r12, [sp, #36]\n"
    "    stm r12, {r4, r5, r6, r7}\n"
    "    pop {r4-r11, pc}\n"
    "    .size nb_dsp_dot2x2, .-nb_dsp_dot2x2\n"
    "    .text\n");

/*
 * void nb_dsp_dot4x2(const int32_t *col2, const int32_t *w16, int32_t iters, int32_t acc[8])
 * iters >= 1 iterations of 4 slot pairs (8 depth values). col2: per slot pair (column a word, column b word);
 * w16: per slot pair the words of 4 filter rows. acc[2r + p] += row r . column p (SMLAD, wrapping).
 * All 14 usable registers hold data (8 accumulators, 2 column words, 2 weight words, 2 pointers): the end
 * pointer and acc live on the stack, the loop test reloads the end pointer into a dead column register.
 */
__asm__(
    "    .section .text.nb_dsp_dot4x2,\"ax\",%progbits\n"
    "    .global nb_dsp_dot4x2\n"
    "    .type nb_dsp_dot4x2, %function\n"
    "    .thumb\n"
    "    .thumb_func\n"
    "    .p2align 2\n"
    "nb_dsp_dot4x2:\n"
    "    push {r4-r11, lr}\n"
    "    sub sp, sp, #8\n"
    "    str r3, [sp, #4]\n"
    "    add r2, r0, r2, lsl #5\n"   /* end = col2 + iters * 32 bytes */
    "    str r2, [sp]\n"
    "    ldm r3, {r4-r11}\n"
    "1:\n"
    "    ldm r0!, {r2, r3}\n"
    "    ldm r1!, {r12, lr}\n"
    "    smlad r4, r12, r2, r4\n"
    "    smlad r5, r12, r3, r5\n"
    "    smlad r6, lr, r2, r6\n"
    "    smlad r7, lr, r3, r7\n"
    "    ldm r1!, {r12, lr}\n"
    "    smlad r8, r12, r2, r8\n"
    "    smlad r9, r12, r3, r9\n"
    "    smlad r10, lr, r2, r10\n"
    "    smlad r11, lr, r3, r11\n"
    "    ldm r0!, {r2, r3}\n"
    "    ldm r1!, {r12, lr}\n"
    "    smlad r4, r12, r2, r4\n"
    "    smlad r5, r12, r3, r5\n"
    "    smlad r6, lr, r2, r6\n"
    "    smlad r7, lr, r3, r7\n"
    "    ldm r1!, {r12, lr}\n"
    "    smlad r8, r12, r2, r8\n"
    "    smlad r9, r12, r3, r9\n"
    "    smlad r10, lr, r2, r10\n"
    "    smlad r11, lr, r3, r11\n"
    "    ldm r0!, {r2, r3}\n"
    "    ldm r1!, {r12, lr}\n"
    "    smlad r4, r12, r2, r4\n"
    "    smlad r5, r12, r3, r5\n"
    "    smlad r6, lr, r2, r6\n"
    "    smlad r7, lr, r3, r7\n"
    "    ldm r1!, {r12, lr}\n"
    "    smlad r8, r12, r2, r8\n"
    "    smlad r9, r12, r3, r9\n"
    "    smlad r10, lr, r2, r10\n"
    "    smlad r11, lr, r3, r11\n"
    "    ldm r0!, {r2, r3}\n"
    "    ldm r1!, {r12, lr}\n"
    "    smlad r4, r12, r2, r4\n"
    "    smlad r5, r12, r3, r5\n"
    "    smlad r6, lr, r2, r6\n"
    "    smlad r7, lr, r3, r7\n"
    "    ldm r1!, {r12, lr}\n"
    "    smlad r8, r12, r2, r8\n"
    "    smlad r9, r12, r3, r9\n"
    "    smlad r10, lr, r2, r10\n"
    "    smlad r11, lr, r3, r11\n"
    "    ldr r2, [sp]\n"
    "    cmp r0, r2\n"
    "    bne 1b\n"
    "    ldr r3, [sp, #4]\n"
    "    stm r3, {r4-r11}\n"
    "    add sp, sp, #8\n"
    "    pop {r4-r11, pc}\n"
    "    .size nb_dsp_dot4x2, .-nb_dsp_dot4x2\n"
    "    .text\n");
#endif
