"""Spoofing attacks of the offline spoof corpus: TTS engines and vocoders that resynthesise real speech.

TTS (text -> speech; speaker = the synthetic voice):
  espeak        espeak-ng formant voices (voice variants m1..f5, named variants), random speed and pitch
  espeak-klatt  espeak-ng with its Klatt-synthesiser variants (klatt, klatt2, klatt3, klatt4)
  flite         CMU flite voices awb, rms, slt, kal16 (clustergen / diphone)
  festival      Festival: kal / ked diphone voices and the cmu_us_slt HTS (statistical parametric) voice
Vocoders (real speech in -> resynthesised speech out; speaker = the source speaker, as in voice conversion):
  world-pitch   WORLD analysis/synthesis (pyworld: DIO + StoneMask, CheapTrick, D4C), F0 scaled by 0.7..1.45
  world-vc      WORLD with the spectral envelope warped in frequency (formant shift 0.85..1.2), F0 scaled and
                its contour smoothed, as in a simple voice conversion
  world-coded   WORLD with a coded envelope (20..40 mel-cepstrum-like coefficients) and coded aperiodicity and a
                quantised F0, i.e. a statistical-parametric vocoder's parameter bottleneck
  griffinlim    magnitude STFT (optionally through an 80-band mel spectrogram and back) and Griffin-Lim phase
                reconstruction with 8..48 iterations from random phase
  lpc           LPC vocoder: order 14..20 all-pole envelope per 10 ms frame, the residual replaced by a pulse
                train at the F0 (voiced) or white noise (unvoiced) with matched energy

Every vocoder takes float32 16 kHz audio and a numpy Generator and returns (audio of the same length, params).
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from train.data import synth_speech
from train.data.audio_io import SR, read_audio_native
from train.errors import DataError

TTS_ATTACKS = ("espeak", "espeak-klatt", "flite", "festival")
VOCODER_ATTACKS = ("world-pitch", "world-vc", "world-coded", "griffinlim", "lpc")
ATTACKS = TTS_ATTACKS + VOCODER_ATTACKS
HELD_OUT = ("flite", "festival", "lpc")  # never in train: the "unseen attacks" (test split only)
KLATT_VARIANTS = ("klatt", "klatt2", "klatt3", "klatt4")
FESTIVAL_VOICES = ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")
DESCRIPTION = {
    "espeak": "TTS, espeak-ng formant synthesis", "espeak-klatt": "TTS, espeak-ng Klatt synthesiser",
    "flite": "TTS, CMU flite (clustergen/diphone)", "festival": "TTS, Festival diphone + HTS",
    "world-pitch": "vocoder, WORLD resynthesis with F0 scaling",
    "world-vc": "vocoder, WORLD with envelope warping (VC-like)",
    "world-coded": "vocoder, WORLD with coded envelope/aperiodicity (SPSS-like)",
    "griffinlim": "vocoder, (mel) magnitude + Griffin-Lim phase",
    "lpc": "vocoder, LPC with pulse/noise excitation",
}


def festival_available() -> bool:
    return shutil.which("text2wave") is not None


def available_attacks() -> tuple[str, ...]:
    """Attacks whose tools are installed (festival is optional; the others are required)."""
    return tuple(a for a in ATTACKS if a != "festival" or festival_available())


# ---------------------------------------------------------------- pyworld


_PW = None


def pyworld():
    """The pyworld extension module. pyworld 0.3.x imports `pkg_resources` (gone from setuptools >= 81)
    in its __init__ only to read its version, so on ImportError the compiled module is loaded directly."""
    global _PW
    if _PW is None:
        try:
            import pyworld as pw
        except ImportError:
            spec = importlib.util.find_spec("pyworld")
            if spec is None or not spec.submodule_search_locations:
                raise DataError("the WORLD attacks need the `pyworld` package (pip install pyworld)") from None
            so = sorted(Path(spec.submodule_search_locations[0]).glob("pyworld*.so"))
            if not so:
                raise DataError("pyworld is installed without its compiled module") from None
            s = importlib.util.spec_from_file_location("pyworld.pyworld", so[0])
            pw = importlib.util.module_from_spec(s)
            s.loader.exec_module(pw)  # type: ignore[union-attr]
        _PW = pw
    return _PW


FRAME_MS = 5.0


def world_analyse(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pw = pyworld()
    xd = np.asarray(x, dtype=np.float64)
    f0, t = pw.dio(xd, SR, f0_floor=60.0, f0_ceil=500.0, frame_period=FRAME_MS)
    f0 = pw.stonemask(xd, f0, t, SR)
    sp = pw.cheaptrick(xd, f0, t, SR)
    ap = pw.d4c(xd, f0, t, SR)
    return f0, sp, ap


def world_synth(f0: np.ndarray, sp: np.ndarray, ap: np.ndarray, n: int) -> np.ndarray:
    y = pyworld().synthesize(np.ascontiguousarray(f0), np.ascontiguousarray(sp), np.ascontiguousarray(ap), SR,
                             FRAME_MS)
    return _fit(y, n)


def _fit(y: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32)
    return y[:n] if len(y) >= n else np.concatenate([y, np.zeros(n - len(y), np.float32)])


def _f0_scale(rng: np.random.Generator) -> float:
    return float(rng.uniform(0.7, 0.9) if rng.random() < 0.5 else rng.uniform(1.1, 1.45))


def world_pitch(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    f0, sp, ap = world_analyse(x)
    k = _f0_scale(rng)
    return world_synth(f0 * k, sp, ap, len(x)), {"f0_scale": round(k, 3)}


def warp_envelope(sp: np.ndarray, alpha: float) -> np.ndarray:
    """Frequency-warp each spectral envelope frame: out(f) = in(f / alpha) (formants move by alpha)."""
    n = sp.shape[1]
    f = np.arange(n, dtype=np.float64)
    src = np.clip(f / alpha, 0, n - 1)
    out = np.empty_like(sp)
    for i in range(sp.shape[0]):
        out[i] = np.exp(np.interp(src, f, np.log(sp[i] + 1e-20)))
    return out


def world_vc(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    f0, sp, ap = world_analyse(x)
    alpha = float(rng.uniform(0.85, 0.95) if rng.random() < 0.5 else rng.uniform(1.05, 1.2))
    k = float(rng.uniform(0.75, 1.35))
    voiced = f0 > 0
    f1 = f0.copy()
    if voiced.any():  # log-F0 contour: shrink the deviations around the mean (flatter prosody) and scale
        lf = np.log(f0[voiced])
        depth = float(rng.uniform(0.5, 1.0))
        f1[voiced] = np.exp(lf.mean() + depth * (lf - lf.mean())) * k
    else:
        depth = 1.0
    return world_synth(f1, warp_envelope(sp, alpha), ap, len(x)), {
        "warp": round(alpha, 3), "f0_scale": round(k, 3), "f0_depth": round(depth, 3)}


def world_coded(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    pw = pyworld()
    f0, sp, ap = world_analyse(x)
    dim = int(rng.integers(20, 41))
    fft_size = (sp.shape[1] - 1) * 2
    csp = pw.code_spectral_envelope(sp, SR, dim)
    sp2 = pw.decode_spectral_envelope(np.ascontiguousarray(csp), SR, fft_size)
    cap = pw.code_aperiodicity(ap, SR)
    ap2 = pw.decode_aperiodicity(np.ascontiguousarray(cap), SR, fft_size)
    step = float(rng.uniform(0.25, 1.0))  # F0 quantised on a semitone grid of this step
    f1 = f0.copy()
    v = f0 > 0
    f1[v] = 440.0 * 2 ** (np.round(12 * np.log2(f0[v] / 440.0) / step) * step / 12)
    return world_synth(f1, sp2, ap2, len(x)), {"dim": dim, "f0_step_semitones": round(step, 3)}


# ---------------------------------------------------------------- Griffin-Lim


def _mel_matrix(n_fft: int, n_mels: int) -> np.ndarray:
    from train.frontend import FrontEndSpec, mel_filterbank

    spec = FrontEndSpec(n_fft=n_fft, win_length=min(400, n_fft), n_mels=n_mels, fmin=0.0)
    return np.asarray(mel_filterbank(spec), dtype=np.float64)  # [n_mels, n_bins]


def griffin_lim(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    from scipy.signal import istft, stft

    n_fft = int(rng.choice([512, 1024]))
    hop = n_fft // 4
    n_iter = int(rng.integers(8, 49))
    use_mel = bool(rng.random() < 0.5)
    _, _, z = stft(x.astype(np.float64), fs=SR, nperseg=n_fft, noverlap=n_fft - hop, boundary="even")
    mag = np.abs(z)
    if use_mel:  # Tacotron-style: 80-band mel magnitude, pseudo-inverse back to linear (non-negative)
        m = _mel_matrix(n_fft, 80)
        mag = np.maximum(np.linalg.pinv(m) @ (m @ mag), 0.0)
    phase = np.exp(2j * np.pi * rng.random(mag.shape))
    y = x
    for _ in range(n_iter):
        _, y = istft(mag * phase, fs=SR, nperseg=n_fft, noverlap=n_fft - hop, boundary=True)
        _, _, z = stft(y, fs=SR, nperseg=n_fft, noverlap=n_fft - hop, boundary="even")
        if z.shape[1] < mag.shape[1]:
            z = np.pad(z, ((0, 0), (0, mag.shape[1] - z.shape[1])))
        phase = np.exp(1j * np.angle(z[:, : mag.shape[1]]))
    _, y = istft(mag * phase, fs=SR, nperseg=n_fft, noverlap=n_fft - hop, boundary=True)
    return _fit(y, len(x)), {"n_fft": n_fft, "n_iter": n_iter, "mel": use_mel}


# ---------------------------------------------------------------- LPC vocoder


def lpc_coeffs(frame: np.ndarray, order: int) -> tuple[np.ndarray, float]:
    """(a = [1, a1..ap], prediction error power) by the autocorrelation method (Levinson via Toeplitz solve)."""
    from scipy.linalg import solve_toeplitz

    r = np.correlate(frame, frame, mode="full")[len(frame) - 1 : len(frame) + order]
    if r[0] <= 1e-12:
        return np.r_[1.0, np.zeros(order)], 0.0
    r = r.copy()
    r[0] *= 1.0 + 1e-6  # white-noise correction keeps the system well conditioned
    r[1:] *= np.exp(-0.5 * (2 * np.pi * 40.0 / SR * np.arange(1, order + 1)) ** 2)  # 40 Hz lag window
    a = solve_toeplitz(r[:order], -r[1 : order + 1])
    err = float(r[0] + np.dot(a, r[1 : order + 1]))
    return np.r_[1.0, a], max(err, 0.0)


def lpc_vocoder(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    from scipy.signal import lfilter

    order = int(rng.integers(14, 21))
    hop, win = 160, 400
    n = len(x)
    xd = np.asarray(x, dtype=np.float64)
    pre = lfilter([1.0, -0.9], [1.0], xd)  # pre-emphasis
    f0, _ = pyworld().dio(xd, SR, f0_floor=60.0, f0_ceil=500.0, frame_period=hop / SR * 1000)
    w = np.hanning(win)
    out = np.zeros(n)
    zi = np.zeros(order)
    phase = float(rng.random())
    jitter = float(rng.uniform(0.0, 0.02))
    for i in range(0, n, hop):
        c = i + hop // 2
        a0 = max(0, c - win // 2)
        seg = pre[a0 : a0 + win]
        if len(seg) < order + 2:
            break
        a, err = lpc_coeffs(seg * w[: len(seg)], order)
        g = np.sqrt(err / np.sum(w[: len(seg)] ** 2))
        m = min(hop, n - i)
        fi = min(i // hop, len(f0) - 1)
        if f0[fi] > 0:
            period = SR / (f0[fi] * (1 + jitter * rng.standard_normal()))
            exc = np.zeros(m)
            t = phase
            while t < m:
                exc[int(t)] = np.sqrt(period)  # unit power pulse train
                t += period
            phase = t - m
        else:
            exc = rng.standard_normal(m)
            phase = 0.0
        y, zi = lfilter([g], a, exc, zi=zi)
        out[i : i + m] = y
    out = lfilter([1.0], [1.0, -0.9], out)  # de-emphasis
    return _fit(out, n), {"order": order, "jitter": round(jitter, 4)}


VOCODERS = {"world-pitch": world_pitch, "world-vc": world_vc, "world-coded": world_coded,
            "griffinlim": griffin_lim, "lpc": lpc_vocoder}


def vocode(attack: str, x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    if attack not in VOCODERS:
        raise DataError(f"unknown vocoder attack {attack!r}; known: {sorted(VOCODERS)}")
    y, params = VOCODERS[attack](np.asarray(x, dtype=np.float32), rng)
    if not np.all(np.isfinite(y)):
        raise DataError(f"{attack}: resynthesis produced non-finite samples ({params})")
    return y, params


# ---------------------------------------------------------------- TTS items


@dataclass(frozen=True)
class TtsItem:
    """One TTS rendering (espeak / espeak-klatt / flite through train.data.synth_speech; festival here)."""

    attack: str
    index: int
    voice: str
    variant: str
    speed: int
    pitch: int
    text: str

    @property
    def engine(self) -> str:
        return {"espeak-klatt": "espeak"}.get(self.attack, self.attack)

    @property
    def group(self) -> str:  # split unit: an espeak language (all variants), a flite or festival voice
        return f"{self.engine}:{self.voice}"

    @property
    def speaker(self) -> str:
        return f"{self.engine}:{self.voice}+{self.variant}" if self.variant else f"{self.engine}:{self.voice}"

    @property
    def id(self) -> str:
        return f"tts/{self.attack}/{self.index:05d}"

    def key(self) -> str:
        return hashlib.sha1(repr(self).encode()).hexdigest()

    def synth_item(self) -> synth_speech.SynthItem:
        return synth_speech.SynthItem(self.index, self.engine, self.voice, self.variant, self.speed, self.pitch,
                                      self.text)


def tts_item(attack: str, i: int) -> TtsItem:
    """Item i of an attack's pool, fully determined by (attack, i). Text and speed/pitch ranges come from
    train.data.synth_speech (digits, common English words, pseudo-words)."""
    base_engine = {"espeak": "espeak", "espeak-klatt": "espeak"}.get(attack, "flite")
    # the VAD pool's item generator with the engine forced: walk its indices until the engine matches
    j, k = (i + 100000 * ATTACKS.index(attack)) * 7, 0
    while True:
        it = synth_speech.synth_item(j + k, flite_share=0.0 if base_engine == "espeak" else 1.0)
        if it.engine == base_engine:
            break
        k += 1
    rng = np.random.default_rng([4099, ATTACKS.index(attack), i])
    if attack == "espeak":
        variant = it.variant if it.variant not in KLATT_VARIANTS else "m1"
        return TtsItem(attack, i, it.voice, variant, it.speed, it.pitch, it.text)
    if attack == "espeak-klatt":
        return TtsItem(attack, i, it.voice, str(rng.choice(KLATT_VARIANTS)), it.speed, it.pitch, it.text)
    if attack == "flite":
        return TtsItem(attack, i, it.voice, "", it.speed, it.pitch, it.text)
    if attack == "festival":
        return TtsItem(attack, i, str(rng.choice(FESTIVAL_VOICES)), "", int(rng.integers(80, 125)), 0, it.text)
    raise DataError(f"unknown TTS attack {attack!r}; known: {TTS_ATTACKS}")


def render_tts(item: TtsItem) -> tuple[np.ndarray, int]:
    """(float32 samples, native sample rate)."""
    if item.engine in ("espeak", "flite"):
        return synth_speech.render(item.synth_item())
    exe = shutil.which("text2wave")
    if exe is None:
        raise DataError("the festival attack needs festival (apt-get install festival festvox-kallpc16k "
                        "festvox-kdlpc16k festvox-us-slt-hts)")
    with tempfile.TemporaryDirectory(prefix="nb-fest-") as tmp:
        txt, out = Path(tmp) / "t.txt", Path(tmp) / "x.wav"
        txt.write_text(item.text + "\n")
        cmd = [exe, "-eval", f"(voice_{item.voice})", "-eval",
               f"(Parameter.set 'Duration_Stretch {100 / item.speed:.3f})", "-o", str(out), str(txt)]
        r = subprocess.run(cmd, capture_output=True, timeout=120)
        if r.returncode != 0 or not out.is_file() or out.stat().st_size <= 44:
            raise DataError(f"{item.id}: festival ({item.voice}) failed: {r.stderr.decode(errors='replace')[:200]}")
        return read_audio_native(out)
