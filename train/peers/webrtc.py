"""WebRTC VAD (`webrtcvad-wheels`): GMM over sub-band energies in fixed point, binary decision per frame."""

from __future__ import annotations

import numpy as np

from train.peers.base import Cost, hold_to_grid, to_pcm16


class WebRTCScorer:
    default_threshold = 0.5

    def __init__(self, mode: int = 3, frame_ms: int = 30) -> None:
        import webrtcvad

        if mode not in (0, 1, 2, 3) or frame_ms not in (10, 20, 30):
            raise ValueError(f"webrtc: mode must be 0..3 and frame 10/20/30 ms, got {mode}, {frame_ms}")
        self.mode, self.frame_ms = mode, frame_ms
        self.frame = 16 * frame_ms
        self.name = f"webrtc{mode}" + ("" if frame_ms == 30 else f"-{frame_ms}")
        self._vad_cls = webrtcvad.Vad
        self.cost = Cost(note="n/a: fixed-point GMM over 6 sub-band energies (no MACs/params to count); "
                              "binary output, so its ROC has one operating point")

    def score_clip(self, audio: np.ndarray) -> np.ndarray:
        pcm = to_pcm16(audio)
        vad = self._vad_cls(self.mode)
        n = pcm.size // self.frame
        dec = np.array([vad.is_speech(pcm[k * self.frame : (k + 1) * self.frame].tobytes(), 16000)
                        for k in range(n)], dtype=np.float64)
        ends = (np.arange(n) + 1) * self.frame
        return hold_to_grid(ends, dec, pcm.size, initial=0.0)
