@ Example / test program for the board support: a hand-written function with a known instruction mix.
@ Per loop iteration: LDR, LDR, LDRH (3 loads), 2 x SMLAD, STR, SUBS, BNE. Stage 1 markers (the same
@ MOVW/MOVT/STRB/ISB sequence as nb_stage.h) wrap the loop, so stage 1 executes 1 + 8 * n instructions.
    .syntax unified
    .thumb
    .text
    .global nb_mix
    .type nb_mix, %function
nb_mix:
    push {r4, r5, lr}
    movw r12, #:lower16:(nb_stage_marks+2)
    movt r12, #:upper16:(nb_stage_marks+2)
    strb r12, [r12]
    isb
    movs r2, #0
1:  ldr r3, [r0]
    ldr r4, [r0, #4]
    ldrh r5, [r0, #8]
    smlad r2, r3, r4, r2
    smlad r2, r3, r5, r2
    str r2, [r0, #12]
    subs r1, r1, #1
    bne 1b
    movw r12, #:lower16:(nb_stage_marks+3)
    movt r12, #:upper16:(nb_stage_marks+3)
    strb r12, [r12]
    isb
    mov r0, r2
    pop {r4, r5, pc}
    .size nb_mix, .-nb_mix
