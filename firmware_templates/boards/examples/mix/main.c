/* Example app for every board: 4 hops (hop 0 = warm-up) of nb_mix(n = 10 + hop) and a small C stage;
 * prints DWT cycles per hop (0 on QEMU) and a checksum through semihosting. */
#include <stdio.h>
#include "nb_stage.h"
#include "nb_cycles.h"
int nb_mix(int *data, int n);
static int data[4] = {0x00010002, 0x00030004, 5, 0};
int main(void) {
    int acc = 0;
    nb_cycles_init();
    for (int hop = 0; hop < 4; hop++) {
        uint32_t c0 = nb_cycles_now();
        NB_HOP_BEGIN();
        acc += nb_mix(data, 10 + hop);
        NB_STAGE_BEGIN(2);
        for (volatile int i = 0; i < 5; i++) { acc ^= i; }
        NB_STAGE_END(2);
        NB_HOP_END();
        printf(NB_CYCLES_LOG_FORMAT, (unsigned long)hop, (unsigned long)(nb_cycles_now() - c0));
    }
    printf("acc=%d\n", acc);
    return 0;
}
