"""Target profiles: `noisebudget/targets/<name>.toml` (CPU, clock, flash, RAM, QEMU board, timing table,
hop rate, initial cycles-per-MAC figures and a front-end cycle estimate, each with its source).

    p = load_target("cortex-m4")
    p.cycles_budget(cpu_load=0.08)        # cycles per hop allowed at that CPU load
    p.mac_budget(cpu_load=0.08)           # MACs per hop left for the model after the front end
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from train.errors import UsageError

TARGETS_DIR = Path(__file__).with_name("targets")

_REQUIRED = {
    "name": str,
    "description": str,
    "cpu": str,
    "clock_hz": int,
    "flash_bytes": int,
    "ram_bytes": int,
    "qemu_board": str,
    "timing_table": str,
    "hop_rate_hz": float,
    "frontend_cycles_per_hop": int,
}


@dataclass(frozen=True)
class TargetProfile:
    name: str
    description: str
    cpu: str
    clock_hz: int
    flash_bytes: int
    ram_bytes: int
    qemu_board: str
    timing_table: str
    hop_rate_hz: float
    frontend_cycles_per_hop: int
    cycles_per_mac: dict[str, float] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def cycles_budget(self, cpu_load: float) -> float:
        """Cycles per hop available at the given CPU-load fraction."""
        return cpu_load * self.clock_hz / self.hop_rate_hz

    def mac_budget(self, cpu_load: float, op: str = "default") -> int:
        """MACs per hop for the model: (cycles budget - front end) / cycles per MAC of `op`."""
        cpm = self.cycles_per_mac.get(op, self.cycles_per_mac.get("default"))
        if not cpm:
            raise UsageError(f"target '{self.name}': no cycles_per_mac for '{op}' nor a default")
        return max(0, int((self.cycles_budget(cpu_load) - self.frontend_cycles_per_hop) / cpm))


def target_names() -> list[str]:
    return sorted(p.stem for p in TARGETS_DIR.glob("*.toml"))


def load_target(name_or_path: str | Path) -> TargetProfile:
    """A profile by name (bundled) or by path to a TOML file of the same shape."""
    p = Path(name_or_path)
    path = p if p.suffix == ".toml" and p.is_file() else TARGETS_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        raise UsageError(f"unknown target '{name_or_path}' (known: {', '.join(target_names())})")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"target file {path} is not valid TOML: {e}") from None
    kw = {}
    for key, typ in _REQUIRED.items():
        if key not in data:
            raise UsageError(f"target file {path}: missing key '{key}'")
        v = data[key]
        if typ is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if not isinstance(v, typ) or isinstance(v, bool):
            raise UsageError(f"target file {path}: '{key}' must be {typ.__name__}, got {v!r}")
        kw[key] = v
    unknown = set(data) - set(_REQUIRED) - {"cycles_per_mac", "sources"}
    if unknown:
        raise UsageError(f"target file {path}: unknown key(s) {sorted(unknown)}")
    cpm = {str(k): float(v) for k, v in data.get("cycles_per_mac", {}).items()}
    if any(v <= 0 for v in cpm.values()):
        raise UsageError(f"target file {path}: cycles_per_mac values must be > 0")
    return TargetProfile(cycles_per_mac=cpm, sources=dict(data.get("sources", {})), **kw)
