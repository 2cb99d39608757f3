"""Peer VADs behind one interface (`train.peers.base.Scorer`), built by name.

Names: silero, webrtc0..webrtc3 (30 ms frames; `webrtc3-10` / `-20` for 10/20 ms), pulsevad (200 ms
windows, hop 200 ms; `pulsevad-100`: hop 100 ms), energy, ten.
"""

from __future__ import annotations

import re

from train.errors import UsageError
from train.peers.base import Cost, Scorer, hold_to_grid

DEFAULT_PEERS = ("silero", "webrtc2", "webrtc3", "pulsevad", "energy", "ten")
_PACKAGES = {"silero": "silero-vad", "webrtc": "webrtcvad-wheels", "pulsevad": "pulsevad", "ten": "ten-vad"}

__all__ = ["DEFAULT_PEERS", "Cost", "Scorer", "hold_to_grid", "make_peer", "parse_peer_list"]


def make_peer(name: str) -> Scorer:
    """Build one peer scorer; UsageError for an unknown name or a peer whose package is missing."""
    name = name.strip()
    m = re.fullmatch(r"webrtc([0-3])(?:-(10|20|30))?", name)
    try:
        if m:
            from train.peers.webrtc import WebRTCScorer

            return WebRTCScorer(int(m.group(1)), int(m.group(2) or 30))
        if name == "silero":
            from train.peers.silero import SileroScorer

            return SileroScorer()
        if name in ("pulsevad", "pulsevad-100"):
            from train.peers.pulsevad import PulseVADScorer

            return PulseVADScorer(3200 if name == "pulsevad" else 1600)
        if name == "energy":
            from train.peers.energy import EnergyScorer

            return EnergyScorer()
        if name == "ten":
            from train.peers.ten import TenVADScorer

            return TenVADScorer()
    except (ImportError, OSError) as e:
        pkg = _PACKAGES.get("webrtc" if m else name.split("-")[0], name)
        raise UsageError(f"peer {name!r} is not available: package {pkg!r} could not be loaded ({e})") from e
    raise UsageError(
        f"unknown peer {name!r}; known: silero, webrtc0..webrtc3 (optionally -10/-20/-30 ms), pulsevad, "
        "pulsevad-100, energy, ten"
    )


def parse_peer_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UsageError("--peers: empty list")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise UsageError(f"--peers: duplicate name(s) {dup}")
    return names
