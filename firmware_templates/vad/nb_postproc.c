/* nb_postproc.c - see nb_postproc.h. */
#include "nb_postproc.h"

void nb_postproc_init(nb_postproc_t *pp)
{
    pp->run = 0;
    pp->hang = 0;
    pp->speech = 0;
}

uint8_t nb_postproc_step(nb_postproc_t *pp, const nb_postproc_config_t *cfg, int8_t q_prob)
{
    const int above = q_prob >= cfg->q_on;
    if (above) {
        if (pp->run < 0xFFFFu) {
            pp->run++;
        }
    } else {
        pp->run = 0;
    }
    if (above && pp->run >= cfg->onset_hops) {
        pp->speech = 1;
        pp->hang = cfg->hangover_hops;
    } else if (pp->speech && pp->hang > 0) {
        pp->hang--;
    } else {
        pp->speech = 0;
        pp->hang = 0;
    }
    return pp->speech;
}
