/* nb_frontend.h - causal log-mel front end, one feature frame per hop (float32, Cortex-M4F friendly).
 *
 * The C twin of train/frontend.py (spec: docs/frontend.md). Per hop of NB_FE_HOP int16 samples:
 *   frame = last NB_FE_WIN samples / 32768 (zeros before the stream start)
 *   x     = frame * periodic Hann window, zero-padded to NB_FE_NFFT
 *   P[k]  = |rfft(x)[k]|^2                       (radix-2 complex FFT of NB_FE_NFFT/2 points + split)
 *   E[m]  = sum_k FB[m][k] * P[k]                 (sparse HTK-mel triangles, only the NB_FE_BANDS kept bands)
 *   feat[m] = logf(E[m] + NB_FE_LOG_FLOOR)
 * Tables (window, twiddles, filterbank) are generated constants (nb_frontend_tables.c); no malloc, no libm
 * trigonometry at run time.
 */
#ifndef NB_FRONTEND_H
#define NB_FRONTEND_H

#include <stdint.h>

#include "nb_frontend_config.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    float history[NB_FE_WIN]; /* last NB_FE_WIN samples, oldest first */
} nb_frontend_t;

void nb_frontend_init(nb_frontend_t *fe);

/* Push NB_FE_HOP samples, write NB_FE_BANDS log-mel values to feat. */
void nb_frontend_process(nb_frontend_t *fe, const int16_t *samples, float *feat);

/* Generated tables (nb_frontend_tables.c). */
extern const float nb_fe_window[NB_FE_WIN];
extern const float nb_fe_twiddle[NB_FE_NFFT / 2];   /* cos/sin pairs: exp(-2*pi*i*k/(NFFT/2)), k < NFFT/4 */
extern const float nb_fe_split[NB_FE_NFFT / 2];     /* cos/sin pairs for the real-FFT split, k < NFFT/4 */
extern const uint16_t nb_fe_bitrev[NB_FE_NFFT / 2];
extern const uint16_t nb_fe_band_start[NB_FE_BANDS];
extern const uint16_t nb_fe_band_len[NB_FE_BANDS];
extern const uint16_t nb_fe_band_offset[NB_FE_BANDS];
extern const float nb_fe_band_weights[NB_FE_FB_NNZ];

#ifdef __cplusplus
}
#endif

#endif /* NB_FRONTEND_H */
