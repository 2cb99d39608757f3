/* nb_frontend.h - causal log-mel front end, one feature frame per hop (float32, Cortex-M4F friendly).
 *
 * The C twin of train/frontend.py (spec: docs/frontend.md). Per hop of NB_FE_HOP int16 samples:
 *   frame = last NB_FE_WIN samples / 32768 (zeros before the stream start)
 *   x     = frame * periodic Hann window, zero-padded to NB_FE_NFFT
 *   P[k]  = |rfft(x)[k]|^2, only for NB_FE_KMIN <= k <= NB_FE_KMAX (the bins the kept bands use)
 *   E[m]  = sum_k FB[m][k] * P[k]                 (sparse HTK-mel triangles, only the NB_FE_BANDS kept bands)
 *   feat[m] = ln(E[m] + NB_FE_LOG_FLOOR)         (bit-level exponent + polynomial, |error| < 1e-6 abs.)
 * How (nb_frontend.c): the real frame is packed as NB_FE_NFFT/2 complex points; the first FFT stage reads
 * the windowed samples straight from the history in bit-reversed order (skipping the zero-padded tail),
 * the remaining stages are radix-4 with contiguous per-stage twiddle tables, and a split step gives P[k].
 * Tables (window, twiddles, filterbank) are generated constants (nb_frontend_tables.c); no malloc, no libm
 * at run time.
 */
#ifndef NB_FRONTEND_H
#define NB_FRONTEND_H

#include <stdint.h>

#include "nb_frontend_config.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    /* circular history of the last NB_FE_WIN samples, stored twice (hist[i] == hist[i + NB_FE_WIN]) so
     * that the frame hist[pos .. pos + NB_FE_WIN) is contiguous; pos = index of the oldest sample. */
    int16_t hist[2 * NB_FE_WIN];
    uint32_t pos;
} nb_frontend_t;

void nb_frontend_init(nb_frontend_t *fe);

/* Push NB_FE_HOP samples, write NB_FE_BANDS log-mel values to feat. */
void nb_frontend_process(nb_frontend_t *fe, const int16_t *samples, float *feat);

/* Generated tables (nb_frontend_tables.c). */
extern const float nb_fe_window[NB_FE_WIN_PAD];      /* Hann window / 32768, zero-padded to an even length */
extern const uint16_t nb_fe_first_rev[NB_FE_FIRST_Q]; /* bit reversal of the first FFT stage's block index */
extern const float nb_fe_fft_tw[NB_FE_FFT_TW_LEN];    /* per radix-4 stage h, per k < h: W^k, W^2k, W^3k (re, im), W = exp(-2 pi i/(4h)) */
extern const float nb_fe_split[2 * (NB_FE_KMAX - NB_FE_KMIN + 1)]; /* exp(-2 pi i k/NFFT), KMIN <= k <= KMAX */
extern const uint16_t nb_fe_band_start[NB_FE_BANDS];  /* relative to NB_FE_KMIN */
extern const uint16_t nb_fe_band_len[NB_FE_BANDS];
extern const float nb_fe_band_weights[NB_FE_FB_NNZ];  /* mel weights / 4 (the split step yields |2 X[k]|^2) */

#ifdef __cplusplus
}
#endif

#endif /* NB_FRONTEND_H */
