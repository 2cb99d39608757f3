"""Build firmware for a QEMU Cortex-M board, run it with the instruction-count plugin, estimate cycles.

    proj = load_project("path/to/fw")                       # reads fw/project.json
    elf = build_project(proj)                              # arm-none-eabi-gcc, board start-up + linker script
    m = measure_elf(elf, board="mps2-an386", table="cortex-m4", stage_names={1: "frontend"}, warmup=1)
    m.to_dict()                                            # the measure.json content

`project.json` (written by the code generator; paths relative to the project folder):

    {"name": "vad", "target": "cortex-m4",            # a target profile (noisebudget/targets/<name>.toml)
     "board": "mps2-an386",                          # optional: overrides the profile's QEMU board
     "sources": ["src/*.c"], "include_dirs": ["include"], "defines": {"NB_FOO": 1}, "opt": "-O2",
     "hop_rate_hz": 100,                             # optional: overrides the profile
     "warmup_hops": 1, "stages": {"1": "frontend", "2": "conv_0"},  "timeout_s": 120,
     "budget": {"cpu_load": 0.08}}                   # optional, read by `noisebudget check`

Counting (convert/qemu_plugin/nbcount.c): every executed instruction is attributed to the innermost open
stage (`NB_STAGE_BEGIN/END`, firmware_templates/boards/common/nb_stage.h) of a measured hop (the first
`warmup` hops are excluded), to OUTSIDE (no hop open) or to WARMUP; the marker instructions themselves
are counted apart. Instruction classes come from `convert.isa`, cycles from `convert.timing` (an
estimate: see that module). Per-hop instruction counts are exact (from the marker event log); per-hop
cycles are the hop's instructions times the measured hops' mean cycles per instruction.
Memory: flash = .isr_vector + .text + .rodata + .ARM.* + .data (load image); RAM = .data + .bss +
.nb_marks + the deepest stack path from `main` over the call graph of the project's own code
(-fstack-usage / -fcallgraph-info; newlib's frames are not included). The heap and stack *reservations*
of the linker script are reported separately (they are board settings, not the program's need).
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from convert.isa import CLASSES, Insn, classify
from convert.timing import TimingTable, get_table
from train.errors import ConversionError, DataError, UsageError

REPO = Path(__file__).resolve().parent.parent
TEMPLATES = REPO / "firmware_templates"
BOARDS_DIR = TEMPLATES / "boards"
BUILD_DIR = TEMPLATES / "build"
PLUGIN_DIR = REPO / "convert" / "qemu_plugin"
PLUGIN_LIB = PLUGIN_DIR / "libnbcount.so"

CTX_OUTSIDE, CTX_WARMUP, CTX_MARKER, N_IDS = 64, 65, 66, 64
MARKER_BYTES = 2 * N_IDS
SCHEMA = "noisebudget.measure/1"


# ----------------------------------------------------------------------------------------------- boards


def _read_mk(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^\s*([A-Z_]+)\s*:=\s*(.*?)\s*$", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def boards() -> list[str]:
    return sorted(p.parent.name for p in BOARDS_DIR.glob("*/board.mk"))


@dataclass(frozen=True)
class Board:
    name: str
    qemu_machine: str
    cpu: str
    cpu_flags: tuple[str, ...]
    linker_script: Path


def get_board(name: str) -> Board:
    mk = BOARDS_DIR / name / "board.mk"
    if not mk.is_file():
        raise UsageError(f"unknown board '{name}' (known: {', '.join(boards())})")
    b = _read_mk(mk)
    cpu = b["NB_BOARD_CPU"]
    c = _read_mk(BUILD_DIR / f"cpu-{cpu}.mk")
    return Board(name, b["NB_QEMU_MACHINE"], cpu, tuple(c["NB_CPU_FLAGS"].split()), BOARDS_DIR / name / "board.ld")


# ---------------------------------------------------------------------------------------------- project


@dataclass
class Project:
    root: Path
    name: str = "app"
    target: str = "cortex-m4"
    board: str | None = None
    sources: list[str] = field(default_factory=list)
    include_dirs: list[str] = field(default_factory=list)
    defines: dict[str, Any] = field(default_factory=dict)
    opt: str = "-O2"
    hop_rate_hz: float | None = None
    warmup_hops: int = 1
    stages: dict[int, str] = field(default_factory=dict)
    timeout_s: float = 120.0
    elf: str | None = None
    budget: dict[str, Any] = field(default_factory=dict)  # optional: cycles_per_hop, cpu_load, flash/ram_bytes


_PROJECT_KEYS = {
    "name",
    "target",
    "board",
    "sources",
    "include_dirs",
    "defines",
    "opt",
    "hop_rate_hz",
    "warmup_hops",
    "stages",
    "timeout_s",
    "elf",
    "budget",
}


def load_project(path: str | os.PathLike[str]) -> Project:
    path = Path(path)
    pj = path / "project.json" if path.is_dir() else path
    if not pj.is_file():
        raise DataError(f"{pj}: no project.json (a firmware project folder needs one)")
    try:
        data = json.loads(pj.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"{pj}: not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise DataError(f"{pj}: must hold a JSON object")
    unknown = set(data) - _PROJECT_KEYS
    if unknown:
        raise DataError(f"{pj}: unknown key(s) {sorted(unknown)} (allowed: {sorted(_PROJECT_KEYS)})")
    stages: dict[int, str] = {}
    for k, v in (data.get("stages") or {}).items():
        try:
            sid = int(k)
        except ValueError:
            raise DataError(f"{pj}: stages key '{k}' is not an integer stage id") from None
        if not 1 <= sid < N_IDS:
            raise DataError(f"{pj}: stage id {sid} out of range 1..{N_IDS - 1} (0 is the hop)")
        stages[sid] = str(v)
    kw = {k: v for k, v in data.items() if k != "stages"}
    proj = Project(root=pj.parent, stages=stages, **kw)
    if not proj.sources and not proj.elf:
        raise DataError(f"{pj}: needs 'sources' (C/assembly files to build) or 'elf'")
    return proj


def project_sources(proj: Project) -> list[Path]:
    out: list[Path] = []
    for pat in proj.sources:
        hits = sorted(glob.glob(str(proj.root / pat)))
        if not hits:
            raise DataError(f"{proj.root / 'project.json'}: source pattern '{pat}' matches no file")
        out.extend(Path(h) for h in hits)
    return out


# ------------------------------------------------------------------------------------------------ build


def _run(cmd: list[str], *, cwd: Path | None = None, what: str) -> None:
    try:
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError:
        raise ConversionError(f"{what}: '{cmd[0]}' not found (run scripts/setup.sh)") from None
    if r.returncode != 0:
        raise ConversionError(f"{what} failed ({' '.join(cmd[:3])} ...):\n{r.stderr.strip()[-4000:]}")


def build_elf(
    sources: list[Path],
    board: str,
    out_dir: Path,
    *,
    include_dirs: list[Path] | None = None,
    defines: dict[str, Any] | None = None,
    opt: str = "-O2",
    name: str = "app",
) -> Path:
    """Compile and link `sources` with the board's start-up code and linker script. Returns the ELF."""
    b = get_board(board)
    out_dir = Path(out_dir)
    obj = out_dir / "obj"
    if obj.exists():
        shutil.rmtree(obj)
    obj.mkdir(parents=True)
    common = BOARDS_DIR / "common"
    cflags = [
        *b.cpu_flags,
        opt,
        "-std=c99",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-ffunction-sections",
        "-fdata-sections",
        "-fstack-usage",
        "-fcallgraph-info=su",
        f"-I{common}",
    ]
    cflags += [f"-I{Path(d).resolve()}" for d in include_dirs or []]
    cflags += [f"-D{k}={v}" for k, v in sorted((defines or {}).items())]
    srcs = [Path(s).resolve() for s in sources] + [common / "nb_startup.c"]
    stems = [s.stem for s in srcs]
    if len(set(stems)) != len(stems):
        raise UsageError(f"source file names must be unique (object names clash): {sorted(stems)}")
    _run(["arm-none-eabi-gcc", *cflags, "-c", *map(str, srcs)], cwd=obj, what="compile")
    elf = out_dir / f"{name}.elf"
    ldflags = [
        *b.cpu_flags,
        "--specs=nano.specs",
        "--specs=rdimon.specs",
        "-nostartfiles",
        f"-T{b.linker_script}",
        f"-L{common}",
        "-Wl,--gc-sections",
        f"-Wl,-Map={out_dir / (name + '.map')}",
    ]
    _run(
        ["arm-none-eabi-gcc", *ldflags, "-o", str(elf), *sorted(str(p) for p in obj.glob("*.o")), "-lm"],
        what="link",
    )
    return elf


def build_project(proj: Project, board: str) -> Path:
    if proj.elf:
        elf = proj.root / proj.elf
        if not elf.is_file():
            raise DataError(f"{proj.root / 'project.json'}: elf '{proj.elf}' does not exist")
        return elf
    return build_elf(
        project_sources(proj),
        board,
        proj.root / "build" / board,
        include_dirs=[proj.root / d for d in proj.include_dirs],
        defines=proj.defines,
        opt=proj.opt,
        name=proj.name,
    )


# ---------------------------------------------------------------------------------------------- ELF info


def elf_symbol(elf: Path, name: str) -> int | None:
    r = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True)
    if r.returncode != 0:
        raise DataError(f"{elf}: not an ELF file arm-none-eabi-nm can read: {r.stderr.strip()}")
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return int(parts[0], 16)
    return None


def elf_sections(elf: Path) -> dict[str, int]:
    r = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True)
    if r.returncode != 0:
        raise DataError(f"{elf}: arm-none-eabi-size cannot read it: {r.stderr.strip()}")
    out: dict[str, int] = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    return out


def stack_depth(obj_dir: Path, root: str = "main") -> tuple[int | None, str]:
    """Deepest stack path from `root` over GCC's call graph (.ci files of -fcallgraph-info=su).

    Returns (bytes, note). Functions without stack info (libc) count 0; recursion or dynamic frames are
    reported in the note (the depth is then a lower bound).
    """
    frames: dict[str, int] = {}
    edges: dict[str, set[str]] = defaultdict(set)
    notes: set[str] = set()
    for ci in sorted(obj_dir.glob("*.ci")):
        text = ci.read_text(errors="replace")
        for m in re.finditer(r'node:\s*\{\s*title:\s*"([^"]+)"\s*label:\s*"([^"]*)"', text):
            title, label = m.group(1), m.group(2)
            sm = re.search(r"(\d+) bytes \((static|dynamic|dynamic,bounded)\)", label)
            if sm:
                frames[title] = int(sm.group(1))
                if sm.group(2) != "static":
                    notes.add(f"dynamic frame in {title}")
        for m in re.finditer(r'edge:\s*\{\s*sourcename:\s*"([^"]+)"\s*targetname:\s*"([^"]+)"', text):
            edges[m.group(1)].add(m.group(2))
    if not frames:
        return None, "no call-graph info (.ci) found"
    roots = [t for t in frames if t == root or t.endswith(":" + root)]
    if not roots:
        return None, f"function '{root}' not in the call graph"

    memo: dict[str, int] = {}

    def depth(f: str, path: frozenset[str]) -> int:
        if f in path:
            notes.add(f"recursion through {f}")
            return 0
        if f in memo:
            return memo[f]
        d = frames.get(f, 0) + max((depth(g, path | {f}) for g in edges.get(f, ())), default=0)
        memo[f] = d
        return d

    d = max(depth(r, frozenset()) for r in roots)
    return d, "; ".join(sorted(notes)) or "static call graph from main (own code; libc frames not included)"


def memory_usage(elf: Path, obj_dir: Path | None = None) -> dict[str, Any]:
    s = elf_sections(elf)
    flash_secs = [k for k in s if k in (".isr_vector", ".text", ".rodata", ".data") or k.startswith(".ARM.")]
    flash = sum(s[k] for k in flash_secs)
    static_ram = sum(s.get(k, 0) for k in (".data", ".bss", ".nb_marks"))
    stack, note = stack_depth(obj_dir) if obj_dir is not None and obj_dir.is_dir() else (None, "no objects")
    return {
        "flash_bytes": flash,
        "ram_bytes": static_ram + (stack or 0),
        "static_ram_bytes": static_ram,
        "stack_bytes": stack,
        "stack_note": note,
        "reserved_stack_bytes": s.get(".stack", 0),
        "reserved_heap_bytes": s.get(".heap", 0),
        "sections": s,
    }


# ------------------------------------------------------------------------------------------------- QEMU


@dataclass
class RunResult:
    exit_code: int
    stdout: str
    stderr: str
    plugin_text: str
    elapsed_s: float


def ensure_plugin() -> Path:
    if not PLUGIN_LIB.is_file() or PLUGIN_LIB.stat().st_mtime < (PLUGIN_DIR / "nbcount.c").stat().st_mtime:
        _run(["make", "-s", "-C", str(PLUGIN_DIR)], what="build the QEMU plugin")
    return PLUGIN_LIB


def run_qemu(elf: Path, board: str, *, warmup: int = 1, timeout_s: float = 120.0, count: bool = True) -> RunResult:
    """Run `elf` on the board's QEMU machine (semihosting); with `count`, load the counting plugin."""
    b = get_board(board)
    cmd = [
        "qemu-system-arm",
        "-M",
        b.qemu_machine,
        "-nographic",
        "-monitor",
        "none",
        "-serial",
        "none",
        "-semihosting-config",
        "enable=on,target=native",
        "-kernel",
        str(elf),
    ]
    with tempfile.TemporaryDirectory(prefix="nbcount.") as td:
        out = Path(td) / "counts.txt"
        if count:
            marks = elf_symbol(elf, "nb_stage_marks")
            args = f"out={out},warmup={warmup}"
            if marks is not None:
                args += f",marks={marks:#x},nmarks={MARKER_BYTES}"
            cmd += ["-plugin", f"{ensure_plugin()},{args}"]
        t0 = time.perf_counter()
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise ConversionError(f"{elf}: QEMU ({board}) did not finish within {timeout_s:g} s") from None
        except FileNotFoundError:
            raise ConversionError("qemu-system-arm not found (run scripts/setup.sh)") from None
        elapsed = time.perf_counter() - t0
        text = out.read_text() if out.is_file() else ""
    if count and not text:
        raise ConversionError(f"{elf}: the counting plugin wrote nothing (QEMU stderr: {r.stderr.strip()[-500:]})")
    return RunResult(r.returncode, r.stdout, r.stderr, text, elapsed)


# ------------------------------------------------------------------------------------------- parse/count


@dataclass
class TB:
    index: int
    vaddr: int
    insns: list[bytes]
    head_end: int
    tail_start: int
    head: dict[int, int] = field(default_factory=dict)
    tail: dict[int, int] = field(default_factory=dict)
    taken: dict[int, int] = field(default_factory=dict)
    fall: dict[int, int] = field(default_factory=dict)


@dataclass
class PluginOutput:
    total: int
    marker_insns: int
    warmup: int
    open_stages: int
    error: str | None
    tbs: dict[int, TB]
    events: list[tuple[int, int, int]]  # (stage id, end flag, stamp)


def parse_plugin_output(text: str) -> PluginOutput:
    lines = text.splitlines()
    if not lines or lines[0] != "nbcount 1" or lines[-1] != "end":
        raise DataError("plugin output is truncated or not from nbcount 1")
    tbs: dict[int, TB] = {}
    events: list[tuple[int, int, int]] = []
    total = marker = warm = opened = 0
    error = None
    for line in lines[1:-1]:
        p = line.split(" ")
        tag = p[0]
        if tag == "T":
            raw = bytes.fromhex(p[6])
            sizes = [int(c) for c in p[7]]
            insns, off = [], 0
            for sz in sizes:
                insns.append(raw[off : off + sz])
                off += sz
            tbs[int(p[1])] = TB(int(p[1]), int(p[2], 16), insns, int(p[4]), int(p[5]))
        elif tag == "C":
            t, c = tbs[int(p[1])], int(p[2])
            h, tl, tk, fl = (int(x) for x in p[3:7])
            for d, v in ((t.head, h), (t.tail, tl), (t.taken, tk), (t.fall, fl)):
                if v:
                    d[c] = v
        elif tag == "E":
            code = int(p[1])
            events.append((code >> 1, code & 1, int(p[2])))
        elif tag == "total":
            total, marker = int(p[1]), int(p[2])
        elif tag == "warmup":
            warm = int(p[1])
        elif tag == "open":
            opened = int(p[1])
        elif tag == "error":
            error = line[6:]
    return PluginOutput(total, marker, warm, opened, error, tbs, events)


@dataclass
class CtxCounts:
    insns: int = 0
    classes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLASSES, 0))
    cycles: float = 0.0


def count_contexts(po: PluginOutput, table: TimingTable) -> dict[int, CtxCounts]:
    """Instruction, class and (un-factored) cycle totals per context (stage id, OUTSIDE, WARMUP, MARKER)."""
    out: dict[int, CtxCounts] = defaultdict(CtxCounts)
    cache: dict[bytes, Insn] = {}

    def cls_of(raw: bytes) -> Insn:
        if raw not in cache:
            cache[raw] = classify(raw)
        return cache[raw]

    for t in po.tbs.values():
        decoded = [cls_of(r) for r in t.insns]
        n = len(decoded)
        tail = {c: k for c, k in t.tail.items() if c != CTX_MARKER}
        segs = [(0, t.head_end, t.head), (t.tail_start, n, tail)]
        if t.tail_start > t.head_end and t.tail.get(CTX_MARKER):
            segs.append((t.head_end, t.tail_start, {CTX_MARKER: t.tail[CTX_MARKER]}))
        for lo, hi, counts in segs:
            if lo >= hi or not counts:
                continue
            seg_cycles = 0.0
            for i in range(lo, hi):
                ins = decoded[i]
                if ins.cls == "branch" and i == n - 1:
                    continue  # charged below from the taken / not-taken outcome
                seg_cycles += table.insn_cycles(ins, decoded[i - 1] if i > lo else None)
            for ctx, k in counts.items():
                c = out[ctx]
                c.insns += k * (hi - lo)
                for i in range(lo, hi):
                    c.classes[decoded[i].cls] += k
                c.cycles += k * seg_cycles
        if decoded and decoded[-1].cls == "branch" and t.tail_start >= n:
            for ctx in set(t.taken) | set(t.fall):
                out[ctx].cycles += table.branch_cycles(t.taken.get(ctx, 0), t.fall.get(ctx, 0))
    return dict(out)


@dataclass
class HopRecord:
    insns: int
    stages: dict[int, int]  # inclusive instructions per stage id in this hop


def hops_from_events(po: PluginOutput) -> tuple[list[HopRecord], dict[int, set[int]]]:
    """Per-hop instruction counts from the event log, and which stages were seen nested in which."""
    hops: list[HopRecord] = []
    stack: list[tuple[int, int]] = []
    children: dict[int, set[int]] = defaultdict(set)
    cur: HopRecord | None = None
    for sid, end, stamp in po.events:
        if not end:
            if stack:
                children[stack[-1][0]].add(sid)
            stack.append((sid, stamp))
            if sid == 0:
                cur = HopRecord(0, {})
        else:
            if not stack or stack[-1][0] != sid:
                raise ConversionError(f"stage markers do not nest: END({sid}) closes {stack[-1:] or 'nothing'}")
            _, begin = stack.pop()
            if sid == 0:
                assert cur is not None
                cur.insns = stamp - begin
                hops.append(cur)
                cur = None
            elif cur is not None:
                cur.stages[sid] = cur.stages.get(sid, 0) + stamp - begin
    return hops, children


# ------------------------------------------------------------------------------------------------ result


@dataclass
class StageResult:
    id: int
    name: str
    insns_per_hop_mean: float
    insns_per_hop_max: int
    self_insns_per_hop: float
    cycles_per_hop: float  # inclusive of nested stages, factors applied
    classes_per_hop: dict[str, float]  # self (innermost) counts


@dataclass
class Measurement:
    elf: str
    board: str
    cpu: str
    timing_table: str
    pipeline_factor: float
    calibration_factor: float
    warmup_hops: int
    hops_total: int
    hops_measured: int
    hop_insns: list[int]  # every hop, warm-up included
    insns_per_hop_mean: float
    insns_per_hop_max: int
    cycles_per_hop_mean: float
    cycles_per_hop_max: float
    cycles_per_insn: float
    classes_per_hop: dict[str, float]
    stages: list[StageResult]
    outside_insns: int
    warmup_insns: int
    marker_insns: int
    total_insns: int
    memory: dict[str, Any]
    exit_code: int
    stdout: str
    run_seconds: float
    clock_hz: float | None = None
    hop_rate_hz: float | None = None
    target: str | None = None

    @property
    def cpu_load(self) -> float | None:
        if not self.clock_hz or not self.hop_rate_hz:
            return None
        return self.cycles_per_hop_max * self.hop_rate_hz / self.clock_hz

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["schema"] = SCHEMA
        d["cpu_load"] = self.cpu_load
        d["estimate"] = (
            "cycles are an estimate: emulator instruction counts x per-class costs of the timing table "
            "x pipeline_factor x calibration_factor"
        )
        return d


def analyze(
    po: PluginOutput,
    table: TimingTable,
    *,
    stage_names: dict[int, str] | None = None,
    calibration_factor: float = 1.0,
) -> dict[str, Any]:
    """Turn plugin output into per-hop / per-stage numbers (a dict of Measurement fields)."""
    if po.error:
        raise ConversionError(f"stage markers: {po.error}")
    if po.open_stages:
        raise ConversionError(f"{po.open_stages} stage(s) still open at exit (missing NB_STAGE_END/NB_HOP_END)")
    ctx = count_contexts(po, table)
    hops, children = hops_from_events(po)
    measured = hops[po.warmup :]
    if not measured:
        raise ConversionError(
            f"no measured hop: the program ran {len(hops)} hop(s) (NB_HOP_BEGIN/END) and {po.warmup} are warm-up"
        )
    in_hops = sum(c.insns for k, c in ctx.items() if k < N_IDS)
    if in_hops != sum(h.insns for h in measured):
        raise ConversionError(
            f"internal count mismatch: blocks give {in_hops} instructions in measured hops, markers give "
            f"{sum(h.insns for h in measured)}"
        )
    factor = table.pipeline_factor * calibration_factor
    nm = len(measured)
    cyc_hops = sum(c.cycles for k, c in ctx.items() if k < N_IDS) * factor
    cpi = cyc_hops / in_hops if in_hops else 0.0
    classes = {k: sum(c.classes[k] for i, c in ctx.items() if i < N_IDS) / nm for k in CLASSES}

    def descendants(s: int) -> set[int]:
        out, todo = set(), [s]
        while todo:
            for ch in children.get(todo.pop(), ()):
                if ch not in out:
                    out.add(ch)
                    todo.append(ch)
        return out

    names = dict(stage_names or {})
    stage_ids = sorted({s for h in measured for s in h.stages} | {k for k in ctx if 0 < k < N_IDS})
    stages = []
    for s in stage_ids:
        per = [h.stages.get(s, 0) for h in measured]
        group = {s} | descendants(s)
        self_c = ctx.get(s, CtxCounts())
        stages.append(
            StageResult(
                id=s,
                name=names.get(s, f"stage{s}"),
                insns_per_hop_mean=sum(per) / nm,
                insns_per_hop_max=max(per),
                self_insns_per_hop=self_c.insns / nm,
                cycles_per_hop=sum(ctx[g].cycles for g in group if g in ctx) * factor / nm,
                classes_per_hop={k: v / nm for k, v in self_c.classes.items() if v},
            )
        )
    hop_insns = [h.insns for h in hops]
    mx = max(h.insns for h in measured)
    return {
        "timing_table": table.name,
        "pipeline_factor": table.pipeline_factor,
        "calibration_factor": calibration_factor,
        "warmup_hops": po.warmup,
        "hops_total": len(hops),
        "hops_measured": nm,
        "hop_insns": hop_insns,
        "insns_per_hop_mean": in_hops / nm,
        "insns_per_hop_max": mx,
        "cycles_per_hop_mean": cyc_hops / nm,
        "cycles_per_hop_max": mx * cpi,
        "cycles_per_insn": cpi,
        "classes_per_hop": classes,
        "stages": stages,
        "outside_insns": ctx.get(CTX_OUTSIDE, CtxCounts()).insns,
        "warmup_insns": ctx.get(CTX_WARMUP, CtxCounts()).insns,
        "marker_insns": po.marker_insns,
        "total_insns": po.total,
    }


def measure_elf(
    elf: str | os.PathLike[str],
    *,
    board: str,
    table: str | TimingTable,
    stage_names: dict[int, str] | None = None,
    warmup: int = 1,
    timeout_s: float = 120.0,
    obj_dir: Path | None = None,
    calibration_factor: float = 1.0,
    pipeline_factor: float | None = None,
    clock_hz: float | None = None,
    hop_rate_hz: float | None = None,
    target: str | None = None,
    expect_exit: int | None = 0,
) -> Measurement:
    elf = Path(elf)
    if not elf.is_file():
        raise DataError(f"{elf}: ELF file does not exist")
    tt = get_table(table) if isinstance(table, str) else table
    if pipeline_factor is not None:
        tt = tt.with_factor(pipeline_factor)
    b = get_board(board)
    if obj_dir is None and (elf.parent / "obj").is_dir():
        obj_dir = elf.parent / "obj"
    mem = memory_usage(elf, obj_dir)
    rr = run_qemu(elf, board, warmup=warmup, timeout_s=timeout_s)
    if expect_exit is not None and rr.exit_code != expect_exit:
        raise ConversionError(
            f"{elf}: firmware exited with code {rr.exit_code} on {board} (expected {expect_exit}); "
            f"output: {(rr.stdout + rr.stderr).strip()[-800:]}"
        )
    res = analyze(
        parse_plugin_output(rr.plugin_text), tt, stage_names=stage_names, calibration_factor=calibration_factor
    )
    return Measurement(
        elf=str(elf),
        board=board,
        cpu=b.cpu,
        memory=mem,
        exit_code=rr.exit_code,
        stdout=rr.stdout,
        run_seconds=rr.elapsed_s,
        clock_hz=clock_hz,
        hop_rate_hz=hop_rate_hz,
        target=target,
        **res,
    )


def format_measurement(m: Measurement) -> str:
    lines = [
        f"{m.elf} on {m.board} ({m.cpu}), timing table {m.timing_table}, pipeline factor {m.pipeline_factor:g}, "
        f"calibration {m.calibration_factor:g}",
        f"hops: {m.hops_total} ({m.warmup_hops} warm-up excluded); instructions/hop mean {m.insns_per_hop_mean:,.1f} "
        f"max {m.insns_per_hop_max:,}; est. cycles/hop mean {m.cycles_per_hop_mean:,.0f} "
        f"max {m.cycles_per_hop_max:,.0f}"
        f" (CPI {m.cycles_per_insn:.3f})",
    ]
    if m.cpu_load is not None:
        lines.append(f"CPU load at {m.hop_rate_hz:g} hops/s and {m.clock_hz / 1e6:g} MHz: {100 * m.cpu_load:.2f} %")
    lines.append(f"{'stage':24s} {'insns/hop':>12s} {'max':>10s} {'est.cycles/hop':>15s}")
    for s in m.stages:
        lines.append(
            f"{s.id:>2d} {s.name:21s} {s.insns_per_hop_mean:12,.1f} {s.insns_per_hop_max:10,} {s.cycles_per_hop:15,.0f}"
        )
    mem = m.memory
    lines.append(
        f"flash {mem['flash_bytes']:,} B; RAM {mem['ram_bytes']:,} B (static {mem['static_ram_bytes']:,} + stack "
        f"{mem['stack_bytes']}: {mem['stack_note']}); QEMU run {m.run_seconds:.2f} s"
    )
    return "\n".join(lines)
