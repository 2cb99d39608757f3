/* nb_frontend.c - see nb_frontend.h. */
#include "nb_frontend.h"

#include <math.h>
#include <string.h>

#define NB_FE_HALF (NB_FE_NFFT / 2)

void nb_frontend_init(nb_frontend_t *fe)
{
    memset(fe, 0, sizeof(*fe));
}

/* In-place iterative radix-2 DIT FFT of NB_FE_HALF complex points (re/im interleaved). */
static void nb_fe_cfft(float *z)
{
    for (int i = 0; i < NB_FE_HALF; ++i) {
        const int j = nb_fe_bitrev[i];
        if (j > i) {
            float t = z[2 * i];
            z[2 * i] = z[2 * j];
            z[2 * j] = t;
            t = z[2 * i + 1];
            z[2 * i + 1] = z[2 * j + 1];
            z[2 * j + 1] = t;
        }
    }
    for (int len = 2; len <= NB_FE_HALF; len <<= 1) {
        const int half = len >> 1;
        const int step = NB_FE_HALF / len; /* twiddle index stride for exp(-2*pi*i*k/NB_FE_HALF) */
        for (int start = 0; start < NB_FE_HALF; start += len) {
            for (int k = 0; k < half; ++k) {
                /* exp(-2*pi*i*k*step/HALF) = exp(-2*pi*i*(2*k*step)/NFFT) */
                const float wr = nb_fe_twiddle[2 * (k * step)];
                const float wi = nb_fe_twiddle[2 * (k * step) + 1];
                float *a = &z[2 * (start + k)];
                float *b = &z[2 * (start + k + half)];
                const float tr = b[0] * wr - b[1] * wi;
                const float ti = b[0] * wi + b[1] * wr;
                b[0] = a[0] - tr;
                b[1] = a[1] - ti;
                a[0] += tr;
                a[1] += ti;
            }
        }
    }
}

void nb_frontend_process(nb_frontend_t *fe, const int16_t *samples, float *feat)
{
    static float z[NB_FE_NFFT];          /* complex work buffer: NB_FE_HALF points */
    static float power[NB_FE_HALF + 1];

    memmove(fe->history, fe->history + NB_FE_HOP, sizeof(float) * (NB_FE_WIN - NB_FE_HOP));
    for (int i = 0; i < NB_FE_HOP; ++i) {
        fe->history[NB_FE_WIN - NB_FE_HOP + i] = (float)samples[i] * (1.0f / 32768.0f);
    }
    /* pack the windowed real frame as NB_FE_HALF complex points: z[n] = x[2n] + i x[2n+1] */
    for (int i = 0; i < NB_FE_WIN; ++i) {
        z[i] = fe->history[i] * nb_fe_window[i];
    }
    for (int i = NB_FE_WIN; i < NB_FE_NFFT; ++i) {
        z[i] = 0.0f;
    }
    nb_fe_cfft(z);
    /* split: X[k] = (Z[k] + conj(Z[H-k]))/2 + exp(-2*pi*i*k/N) * (Z[k] - conj(Z[H-k]))/(2i) */
    power[0] = (z[0] + z[1]) * (z[0] + z[1]);
    power[NB_FE_HALF] = (z[0] - z[1]) * (z[0] - z[1]);
    for (int k = 1; k < NB_FE_HALF; ++k) {
        const int m = NB_FE_HALF - k;
        const float ar = z[2 * k], ai = z[2 * k + 1];
        const float br = z[2 * m], bi = -z[2 * m + 1];
        const float er = 0.5f * (ar + br), ei = 0.5f * (ai + bi);
        const float dr = 0.5f * (ar - br), di = 0.5f * (ai - bi);
        /* o = d / i = (di, -dr) */
        const float or_ = di, oi = -dr;
        float wr, wi;
        if (k < NB_FE_HALF / 2) {
            wr = nb_fe_split[2 * k];
            wi = nb_fe_split[2 * k + 1];
        } else { /* exp(-i*pi*k/H) for k >= H/2: rotate the table by -pi/2 */
            const int kk = k - NB_FE_HALF / 2;
            wr = nb_fe_split[2 * kk + 1];
            wi = -nb_fe_split[2 * kk];
        }
        const float xr = er + (or_ * wr - oi * wi);
        const float xi = ei + (or_ * wi + oi * wr);
        power[k] = xr * xr + xi * xi;
    }
    for (int b = 0; b < NB_FE_BANDS; ++b) {
        const float *w = &nb_fe_band_weights[nb_fe_band_offset[b]];
        const float *p = &power[nb_fe_band_start[b]];
        float acc = 0.0f;
        for (int i = 0; i < nb_fe_band_len[b]; ++i) {
            acc += w[i] * p[i];
        }
        feat[b] = logf(acc + NB_FE_LOG_FLOOR);
    }
}
