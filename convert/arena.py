"""TFLite Micro arena size of a model, measured with the tflite-micro Python interpreter.

The TFLM Python wrapper has no "used bytes" getter, so the smallest arena in which the interpreter
allocates (and runs one inference on zero inputs) is found by doubling then bisection, and the
RecordingMicroAllocator's own report (head/tail/total bytes, printed by `print_allocations`) is
parsed at that size. The interpreter runs in a child process, and each probe in a process forked
from it: TFLM's C++ code crashes on some allocation-failure paths (such a probe counts as "too
small") and on malformed models (a ConversionError here), never the caller. Nothing is cached.

`measure_arena(model_bytes, source=...) -> ArenaReport`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from train.errors import ConversionError

_MAX_ARENA = 1 << 28  # 256 MiB: beyond any MCU; failing there means "does not allocate at all"
_START = 1 << 12


@dataclass(frozen=True)
class ArenaReport:
    arena_bytes: int  # smallest arena (bytes) in which the TFLM Python interpreter allocates and runs
    recorded_total: int | None  # RecordingMicroAllocator "Arena allocation total" at that size
    recorded_head: int | None  # non-persistent (activation) buffers
    recorded_tail: int | None  # persistent allocations (tensor structs, op data, ...)
    probes: int  # interpreter constructions used by the search
    crashed_probes: int = 0  # probes where TFLM crashed instead of failing cleanly (counted as "too small")
    method: str = "tflite-micro python interpreter, bisection on arena_size"

    def to_dict(self) -> dict:
        return asdict(self)


def measure_arena(model_bytes: bytes, *, source: str = "<bytes>", timeout: float = 300.0) -> ArenaReport:
    """Smallest TFLM arena for `model_bytes` (module doc). Raises ConversionError if TFLM cannot run it."""
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    cmd = [sys.executable, "-c", "from convert.arena import _child_main; _child_main()"]
    try:
        r = subprocess.run(cmd, input=model_bytes, capture_output=True, timeout=timeout, env=env, cwd=root)
    except subprocess.TimeoutExpired:
        raise ConversionError(f"{source}: TFLM arena measurement took longer than {timeout:.0f} s") from None
    if r.returncode < 0:
        try:
            sig = signal.Signals(-r.returncode).name
        except ValueError:
            sig = str(-r.returncode)
        raise ConversionError(f"{source}: the TFLM interpreter crashed ({sig}) loading this model")
    lines = r.stdout.decode("utf-8", "replace").strip().splitlines()
    try:
        res = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        err = r.stderr.decode("utf-8", "replace").strip()[-800:]
        raise ConversionError(f"{source}: TFLM arena measurement failed (exit {r.returncode}): {err}") from None
    if "error" in res:
        raise ConversionError(f"{source}: {res['error']}")
    return ArenaReport(**res)


# ---- child process --------------------------------------------------------------------------


class _Stderr:
    """Capture the C-level stderr (file descriptor 2), where TFLM's MicroPrintf writes."""

    def __enter__(self):
        import tempfile

        sys.stderr.flush()
        self._saved = os.dup(2)
        self._tmp = tempfile.TemporaryFile()
        os.dup2(self._tmp.fileno(), 2)
        return self

    def __exit__(self, *exc):
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._tmp.seek(0)
        self.text = self._tmp.read().decode("utf-8", "replace")
        self._tmp.close()
        return False


def _child_main() -> None:
    model = sys.stdin.buffer.read()
    try:
        out = _search(model)
    except Exception as e:  # reported to the parent as data, which raises ConversionError
        out = {"error": f"{type(e).__name__}: {e}"}
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()


def _search(model: bytes) -> dict:
    import numpy as np
    from tflite_micro.python.tflite_micro import runtime

    from convert.tflite_ir import read_tflite

    n_inputs = len(read_tflite(model).inputs)  # DataError if unreadable: TFLM does not verify the file

    probes = crashed = 0
    last_msg = ""

    def ok(size: int) -> bool:
        # Each probe runs in a forked process: TFLM's python wrapper segfaults on some
        # allocation-failure paths (seen with STRIDED_SLICE and MEAN at too-small arenas).
        nonlocal probes, crashed, last_msg
        probes += 1
        with _Stderr() as cap:
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the forked probe
                code = 1
                try:
                    runtime.Interpreter.from_bytes(model, arena_size=size)
                    code = 0
                finally:
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            crashed += 1
            last_msg = f"TFLM crashed (signal {os.WTERMSIG(status)}) with a {size} byte arena"
            return False
        good = os.WEXITSTATUS(status) == 0
        if not good:
            last_msg = cap.text.strip()
        return good

    hi = _START
    while not ok(hi):
        if hi >= _MAX_ARENA:
            msg = " / ".join(last_msg.splitlines()[-3:]) or "no message"
            return {"error": f"TFLM cannot allocate this model even with a {_MAX_ARENA} byte arena: {msg}"}
        hi *= 2
    lo = hi // 2 if hi > _START else 0  # lo fails (or is 0), hi allocates
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid

    with _Stderr() as cap:
        interp = runtime.Interpreter.from_bytes(model, arena_size=hi)
        for i in range(n_inputs):  # run once on zeros: the arena must also be enough to invoke
            d = interp.get_input_details(i)  # (an index out of range crashes TFLM: count from the IR)
            interp.set_input(np.zeros(d["shape"], dtype=d["dtype"]), i)
        interp.invoke()
        interp.print_allocations()

    def grab(key: str) -> int | None:
        m = re.search(rf"Arena allocation {key} (\d+) bytes", cap.text)
        return int(m.group(1)) if m else None

    return {
        "arena_bytes": hi,
        "recorded_total": grab("total"),
        "recorded_head": grab("head"),
        "recorded_tail": grab("tail"),
        "probes": probes,
        "crashed_probes": crashed,
    }
