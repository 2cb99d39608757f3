/* nb_postproc.h - VAD decision from the int8 speech probability: threshold, onset, hangover.
 * Integer semantics identical to train/postproc.py (tested bit for bit). */
#ifndef NB_POSTPROC_H
#define NB_POSTPROC_H

#include <stdint.h>

typedef struct {
    int8_t q_on;            /* int8 threshold on the raw probability output */
    uint16_t onset_hops;    /* hops above threshold to start a segment (>= 1) */
    uint16_t hangover_hops; /* hops a segment is held after falling below threshold */
} nb_postproc_config_t;

typedef struct {
    uint16_t run;
    uint16_t hang;
    uint8_t speech;
} nb_postproc_t;

void nb_postproc_init(nb_postproc_t *pp);
/* Returns the decision (0/1) for this hop. */
uint8_t nb_postproc_step(nb_postproc_t *pp, const nb_postproc_config_t *cfg, int8_t q_prob);

#endif /* NB_POSTPROC_H */
