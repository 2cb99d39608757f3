"""`noisebudget calibrate`: turn DWT cycle counts from a real board into a per-target correction factor.

The example app prints one line per hop, `NB_CYCLES hop=<n> cycles=<c>` (DWT CYCCNT, see
firmware_templates/boards/common/nb_cycles.h). The factor is
    mean real cycles per measured hop / mean estimated cycles per hop (measure.json, factor 1)
and is stored in calibration.json under the user config dir ($NOISEBUDGET_CONFIG_DIR, else
$XDG_CONFIG_HOME/noisebudget, else ~/.config/noisebudget) or `--out DIR` (e.g. a run folder).
`noisebudget measure` multiplies its cycle estimate by it (and says so).
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path

NAME = "calibrate"
HELP = "Store a per-target cycle correction factor from DWT cycles printed by the example app on a board."

_LINE = re.compile(r"NB_CYCLES\s+hop=(\d+)\s+cycles=(\d+)")


def config_dir() -> Path:
    if os.environ.get("NOISEBUDGET_CONFIG_DIR"):
        return Path(os.environ["NOISEBUDGET_CONFIG_DIR"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "noisebudget"


def load_calibration(target: str, dirs: list[Path] | None = None) -> tuple[float, str | None]:
    """(factor, file) for `target`: the first calibration.json in `dirs`, then the user config dir."""
    from train.errors import DataError

    for d in [*(dirs or []), config_dir()]:
        f = Path(d) / "calibration.json"
        if not f.is_file():
            continue
        try:
            data = json.loads(f.read_text())
        except json.JSONDecodeError as e:
            raise DataError(f"{f}: not valid JSON: {e}") from None
        entry = data.get(target) if isinstance(data, dict) else None
        if entry is not None:
            fac = entry.get("factor") if isinstance(entry, dict) else None
            if not isinstance(fac, int | float) or fac <= 0:
                raise DataError(f"{f}: '{target}.factor' must be a positive number")
            return float(fac), str(f)
    return 1.0, None


def parse_cycles_log(text: str, *, source: str = "log") -> dict[int, int]:
    from train.errors import DataError

    hops: dict[int, int] = {}
    for m in _LINE.finditer(text):
        hops[int(m.group(1))] = int(m.group(2))
    if not hops:
        raise DataError(f"{source}: no 'NB_CYCLES hop=<n> cycles=<c>' lines")
    return hops


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", required=True, help="target profile name (noisebudget/targets/<name>.toml)")
    p.add_argument("--cycles-log", required=True, type=Path, help="board output with NB_CYCLES lines")
    p.add_argument(
        "--measure", type=Path, required=True, help="measure.json of the same firmware (its estimate is the reference)"
    )
    p.add_argument("--warmup", type=int, default=None, help="hops to skip (default: the measurement's warm-up)")
    p.add_argument("--out", type=Path, default=None, help="folder for calibration.json (default: user config dir)")


def run(args: argparse.Namespace) -> int:
    from noisebudget.target_profiles import load_target
    from train.atomic import atomic_write_json
    from train.errors import DataError, UsageError

    load_target(args.target)
    if not args.cycles_log.is_file():
        raise DataError(f"{args.cycles_log}: cycles log does not exist")
    if not args.measure.is_file():
        raise DataError(f"{args.measure}: measurement does not exist")
    try:
        m = json.loads(args.measure.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"{args.measure}: not valid JSON: {e}") from None
    if not isinstance(m, dict) or m.get("schema") != "noisebudget.measure/1":
        raise DataError(f"{args.measure}: not a noisebudget measurement")
    warm = m.get("warmup_hops", 1) if args.warmup is None else args.warmup
    if warm < 0:
        raise UsageError("--warmup must be >= 0")
    hops = parse_cycles_log(args.cycles_log.read_text(errors="replace"), source=str(args.cycles_log))
    real = [c for h, c in sorted(hops.items()) if h >= warm]
    if not real or max(real) == 0:
        raise DataError(
            f"{args.cycles_log}: no non-zero cycle counts after {warm} warm-up hop(s) "
            "(QEMU prints 0: calibrate with a real board)"
        )
    uncal = m["cycles_per_hop_mean"] / (m.get("calibration_factor") or 1.0)
    if uncal <= 0:
        raise DataError(f"{args.measure}: estimated cycles per hop is 0")
    factor = (sum(real) / len(real)) / uncal
    out_dir = args.out or config_dir()
    f = out_dir / "calibration.json"
    data = json.loads(f.read_text()) if f.is_file() else {}
    data[args.target] = {
        "factor": factor,
        "real_cycles_per_hop_mean": sum(real) / len(real),
        "estimated_cycles_per_hop_mean": uncal,
        "hops": len(real),
        "cycles_log": str(args.cycles_log),
        "measure": str(args.measure),
    }
    atomic_write_json(f, data)
    print(
        f"{args.target}: real {sum(real) / len(real):,.0f} cycles/hop over {len(real)} hops, estimate "
        f"{uncal:,.0f} -> factor {factor:.4f} stored in {f}"
    )
    return 0
