/* nb_frontend.c - see nb_frontend.h.
 *
 * Cost per hop (Cortex-M4F, 40 bands): benchmarks/frontend_cycles.py. The numbers follow
 * train/frontend.py within 1e-4 (log domain, tests/test_frontend_c.py).
 */
#include "nb_frontend.h"

#include <string.h>

#define NB_FE_HALF (NB_FE_NFFT / 2) /* complex FFT size */
#define NB_FE_NP (NB_FE_KMAX - NB_FE_KMIN + 1)

#if NB_FE_HOP > NB_FE_WIN
#error "nb_frontend: NB_FE_HOP must not exceed NB_FE_WIN"
#endif
#if NB_FE_WIN_PAD > 2 * NB_FE_WIN || 2 * NB_FE_NZ != NB_FE_WIN_PAD
#error "nb_frontend: inconsistent NB_FE_WIN_PAD / NB_FE_NZ"
#endif

#if defined(__GNUC__)
#define NB_FE_INLINE static inline __attribute__((always_inline))
#define NB_FE_RESTRICT __restrict__
#else
#define NB_FE_INLINE static inline
#define NB_FE_RESTRICT
#endif

void nb_frontend_init(nb_frontend_t *fe)
{
    memset(fe, 0, sizeof(*fe));
}

/* ----------------------------------------------------------------------------------------------- log */

/* Natural log of a positive normal float: x = 2^k * m with m in [sqrt(1/2), sqrt(2)) from the bits,
 * ln(m) = 2 atanh(s), s = (m - 1)/(m + 1), |s| <= 0.1716, series to s^9 (truncation < 1e-9), and
 * k*ln2 split into an exact high part and a low part. Absolute error ~1 ulp of the result. */
NB_FE_INLINE float nb_fe_log(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof(u));
    u += 0x3f800000u - 0x3f3504f3u;
    const float k = (float)((int32_t)(u >> 23) - 127);
    u = (u & 0x007fffffu) + 0x3f3504f3u;
    float m;
    memcpy(&m, &u, sizeof(m));
    const float f = m - 1.0f;
    const float s = f / (2.0f + f);
    const float r = s * s;
    const float p = 1.0f + r * (0.33333333f + r * (0.2f + r * (0.14285715f + r * 0.11111111f)));
    return k * 0.693145752f + (k * 1.42860677e-06f + 2.0f * s * p);
}

/* ----------------------------------------------------------------------------------------------- FFT */

/* Windowed complex input point n of the packed frame: (x[2n] w[2n], x[2n+1] w[2n+1]). */
NB_FE_INLINE void nb_fe_in(const int16_t *NB_FE_RESTRICT x, int n, float *re, float *im)
{
    *re = (float)x[2 * n] * nb_fe_window[2 * n];
    *im = (float)x[2 * n + 1] * nb_fe_window[2 * n + 1];
}

#if NB_FE_FIRST_RADIX == 4
/* First stage (4-point DFTs) straight from the history: inputs zin[r + q*Q] (zero when past the window,
 * nvalid = how many of the four are inside), output to the bit-reversed block nb_fe_first_rev[r]. */
NB_FE_INLINE void nb_fe_first(float *NB_FE_RESTRICT z, const int16_t *NB_FE_RESTRICT x, int r, int nvalid)
{
    enum { Q = NB_FE_FIRST_Q };
    float y0r = 0.0f, y0i = 0.0f, y1r = 0.0f, y1i = 0.0f, y2r = 0.0f, y2i = 0.0f, y3r = 0.0f, y3i = 0.0f;
    if (nvalid > 0) nb_fe_in(x, r, &y0r, &y0i);
    if (nvalid > 1) nb_fe_in(x, r + Q, &y1r, &y1i);
    if (nvalid > 2) nb_fe_in(x, r + 2 * Q, &y2r, &y2i);
    if (nvalid > 3) nb_fe_in(x, r + 3 * Q, &y3r, &y3i);
    /* (x + 0 is not folded by the compiler: skip the missing inputs explicitly) */
    const float ar = nvalid > 2 ? y0r + y2r : y0r, ai = nvalid > 2 ? y0i + y2i : y0i;
    const float br = nvalid > 2 ? y0r - y2r : y0r, bi = nvalid > 2 ? y0i - y2i : y0i;
    const float cr = nvalid > 3 ? y1r + y3r : y1r, ci = nvalid > 3 ? y1i + y3i : y1i;
    const float dr = nvalid > 3 ? y1r - y3r : y1r, di = nvalid > 3 ? y1i - y3i : y1i;
    float *o = z + 8 * nb_fe_first_rev[r];
    o[0] = ar + cr;
    o[1] = ai + ci;
    o[2] = br + di;
    o[3] = bi - dr;
    o[4] = ar - cr;
    o[5] = ai - ci;
    o[6] = br - di;
    o[7] = bi + dr;
}
#define NB_FE_H0 4
#elif NB_FE_FIRST_RADIX == 2
NB_FE_INLINE void nb_fe_first(float *NB_FE_RESTRICT z, const int16_t *NB_FE_RESTRICT x, int r, int nvalid)
{
    enum { Q = NB_FE_FIRST_Q };
    float y0r = 0.0f, y0i = 0.0f, y1r = 0.0f, y1i = 0.0f;
    if (nvalid > 0) nb_fe_in(x, r, &y0r, &y0i);
    if (nvalid > 1) nb_fe_in(x, r + Q, &y1r, &y1i);
    float *o = z + 4 * nb_fe_first_rev[r];
    o[0] = nvalid > 1 ? y0r + y1r : y0r;
    o[1] = nvalid > 1 ? y0i + y1i : y0i;
    o[2] = nvalid > 1 ? y0r - y1r : y0r;
    o[3] = nvalid > 1 ? y0i - y1i : y0i;
}
#define NB_FE_H0 2
#else
#error "nb_frontend: NB_FE_FIRST_RADIX must be 2 or 4"
#endif

/* Number of first-stage inputs r + q*Q (q = 0..) inside the window is >= nvalid for r < NB_FE_RQ(nvalid-1). */
#define NB_FE_RQ(q) ((NB_FE_NZ - (q) * NB_FE_FIRST_Q) < 0 ? 0 \
                     : (NB_FE_NZ - (q) * NB_FE_FIRST_Q) > NB_FE_FIRST_Q ? NB_FE_FIRST_Q \
                     : (NB_FE_NZ - (q) * NB_FE_FIRST_Q))

/* Radix-4 DIT butterfly on the four h-point sub-DFTs at p, p + 2h, p + 4h, p + 6h (floats; bit-reversed
 * order: the 2nd block holds residue 2, the 3rd residue 1). w = W^k, W^2k, W^3k or NULL for k = 0. */
NB_FE_INLINE void nb_fe_bfly4(float *NB_FE_RESTRICT p, int h, const float *NB_FE_RESTRICT w)
{
    float *p1 = p + 2 * h, *p2 = p + 4 * h, *p3 = p + 6 * h;
    const float y0r = p[0], y0i = p[1];
    float y1r = p2[0], y1i = p2[1]; /* residue 1 */
    float y2r = p1[0], y2i = p1[1]; /* residue 2 */
    float y3r = p3[0], y3i = p3[1];
    if (w) {
        const float t1r = y1r * w[0] - y1i * w[1], t1i = y1r * w[1] + y1i * w[0];
        const float t2r = y2r * w[2] - y2i * w[3], t2i = y2r * w[3] + y2i * w[2];
        const float t3r = y3r * w[4] - y3i * w[5], t3i = y3r * w[5] + y3i * w[4];
        y1r = t1r; y1i = t1i; y2r = t2r; y2i = t2i; y3r = t3r; y3i = t3i;
    }
    const float ar = y0r + y2r, ai = y0i + y2i, br = y0r - y2r, bi = y0i - y2i;
    const float cr = y1r + y3r, ci = y1i + y3i, dr = y1r - y3r, di = y1i - y3i;
    p[0] = ar + cr;
    p[1] = ai + ci;
    p1[0] = br + di;
    p1[1] = bi - dr;
    p2[0] = ar - cr;
    p2[1] = ai - ci;
    p3[0] = br - di;
    p3[1] = bi + dr;
}

/* One radix-4 stage: combines the h-point sub-DFTs into 4h-point DFTs; tw: this stage's twiddles. */
NB_FE_INLINE const float *nb_fe_stage(float *NB_FE_RESTRICT z, const float *NB_FE_RESTRICT tw, const int h)
{
    const int step = 8 * h; /* floats per 4h-point block */
    for (int s = 0; s < 2 * NB_FE_HALF; s += step) {
        nb_fe_bfly4(z + s, h, 0);
    }
    for (int k = 1; k < h; ++k, tw += 6) {
        for (int s = 2 * k; s < 2 * NB_FE_HALF; s += step) {
            nb_fe_bfly4(z + s, h, tw);
        }
    }
    return tw;
}

#define NB_FE_STAGE(i)                                   \
    do {                                                 \
        if ((NB_FE_H0 << (2 * (i))) < NB_FE_HALF) {      \
            tw = nb_fe_stage(z, tw, NB_FE_H0 << (2 * (i))); \
        }                                                \
    } while (0)

#if NB_FE_HALF > (NB_FE_H0 << 14)
#error "nb_frontend: n_fft too large for the unrolled stage list (add NB_FE_STAGE calls)"
#endif

/* Complex FFT of the windowed frame (NB_FE_HALF points, z[n] = x[2n] + i x[2n+1]), natural-order output. */
static void nb_fe_fft(float *NB_FE_RESTRICT z, const int16_t *NB_FE_RESTRICT x)
{
    int r = 0;
#if NB_FE_FIRST_RADIX == 4
    for (; r < NB_FE_RQ(3); ++r) nb_fe_first(z, x, r, 4);
    for (; r < NB_FE_RQ(2); ++r) nb_fe_first(z, x, r, 3);
#endif
    for (; r < NB_FE_RQ(1); ++r) nb_fe_first(z, x, r, 2);
    for (; r < NB_FE_RQ(0); ++r) nb_fe_first(z, x, r, 1);
    for (; r < NB_FE_FIRST_Q; ++r) nb_fe_first(z, x, r, 0);

    /* radix-4 stages with compile-time h (constant offsets; the last stage's block loop disappears) */
    const float *tw = nb_fe_fft_tw;
    NB_FE_STAGE(0);
    NB_FE_STAGE(1);
    NB_FE_STAGE(2);
    NB_FE_STAGE(3);
    NB_FE_STAGE(4);
    NB_FE_STAGE(5);
    NB_FE_STAGE(6);
    (void)tw;
}

/* ----------------------------------------------------------------------------------- power spectrum */

/* Real-FFT split, Z periodic in H = NB_FE_HALF, W = exp(-2 pi i/NFFT), a = Z[k], b = Z[H-k]:
 *   2 X[k]   = (a + conj b) - i W^k (a - conj b) = s - i P,  s = a + conj b, P = W^k (a - conj b)
 *   2 X[H-k] = conj(s) - i conj(P)                (W^(H-k) = -conj(W^k)) */
NB_FE_INLINE void nb_fe_power1(const float *NB_FE_RESTRICT z, float *NB_FE_RESTRICT power, int k)
{
    const float *a = z + 2 * (k & (NB_FE_HALF - 1));
    const float *b = z + 2 * ((NB_FE_HALF - k) & (NB_FE_HALF - 1));
    const float *w = nb_fe_split + 2 * (k - NB_FE_KMIN);
    const float sr = a[0] + b[0], si = a[1] - b[1];
    const float dr = a[0] - b[0], di = a[1] + b[1];
    const float pr = w[0] * dr - w[1] * di, pi = w[0] * di + w[1] * dr;
    const float yr = sr + pi, yi = si - pr;
    power[k - NB_FE_KMIN] = yr * yr + yi * yi;
}

/* Bins k and H-k (0 < k <= H/2) from the same loads. */
NB_FE_INLINE void nb_fe_power2(const float *NB_FE_RESTRICT z, float *NB_FE_RESTRICT power, int k)
{
    const float *a = z + 2 * k;
    const float *b = z + 2 * (NB_FE_HALF - k);
    const float *w = nb_fe_split + 2 * (k - NB_FE_KMIN);
    const float sr = a[0] + b[0], si = a[1] - b[1];
    const float dr = a[0] - b[0], di = a[1] + b[1];
    const float pr = w[0] * dr - w[1] * di, pi = w[0] * di + w[1] * dr;
    const float yr = sr + pi, yi = si - pr;
    const float vr = sr - pi, vi = si + pr; /* conj(2 X[H-k]) */
    power[k - NB_FE_KMIN] = yr * yr + yi * yi;
    power[NB_FE_HALF - k - NB_FE_KMIN] = vr * vr + vi * vi;
}

NB_FE_INLINE void nb_fe_push(int16_t *NB_FE_RESTRICT dst, const int16_t *NB_FE_RESTRICT src, uint32_t n)
{
    for (uint32_t i = 0; i < n; ++i) {
        const int16_t v = src[i];
        dst[i] = v;
        dst[i + NB_FE_WIN] = v;
    }
}

/* --------------------------------------------------------------------------------------------- hop */

void nb_frontend_process(nb_frontend_t *fe, const int16_t *samples, float *feat)
{
    static float z[NB_FE_NFFT]; /* NB_FE_HALF complex points, re/im interleaved */
    static float power[NB_FE_NP];

    /* push the hop into the doubled circular history (two straight runs, no per-sample wrap test) */
    uint32_t pos = fe->pos;
    int16_t *NB_FE_RESTRICT hist = fe->hist;
    const uint32_t n1 = (NB_FE_WIN - pos < NB_FE_HOP) ? NB_FE_WIN - pos : NB_FE_HOP;
    nb_fe_push(hist + pos, samples, n1);
    nb_fe_push(hist, samples + n1, NB_FE_HOP - n1);
    pos += NB_FE_HOP;
    if (pos >= NB_FE_WIN) pos -= NB_FE_WIN;
    fe->pos = pos;

    nb_fe_fft(z, hist + pos);

    /* power[k - KMIN] = |2 X[k]|^2 (the mel weights carry the 1/4): bins whose partner H-k is used too
     * are done in pairs (shared loads), the rest one by one */
    for (int k = NB_FE_SA_LO; k <= NB_FE_SA_HI; ++k) nb_fe_power1(z, power, k);
    for (int k = NB_FE_PAIR_LO; k <= NB_FE_PAIR_HI; ++k) nb_fe_power2(z, power, k);
    for (int k = NB_FE_SB_LO; k <= NB_FE_SB_HI; ++k) nb_fe_power1(z, power, k);

    const float *NB_FE_RESTRICT w = nb_fe_band_weights;
    for (int m = 0; m < NB_FE_BANDS; ++m) {
        const float *NB_FE_RESTRICT p = power + nb_fe_band_start[m];
        const int n = nb_fe_band_len[m];
        float acc = 0.0f;
        int i = 0;
        for (; i + 1 < n; i += 2) { /* same summation order as the plain loop */
            acc += w[i] * p[i];
            acc += w[i + 1] * p[i + 1];
        }
        if (i < n) acc += w[i] * p[i];
        w += n;
        feat[m] = nb_fe_log(acc + NB_FE_LOG_FLOOR);
    }
}
