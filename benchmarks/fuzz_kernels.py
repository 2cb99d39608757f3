"""Soak test: random one-op int8 models through TFLM vs. our C kernels, bit for bit.

Discovers every kernel registered in ``tests.kernel_harness.REGISTRY`` by importing the kernel test
modules (``tests/test_kernels_*.py``: KERNELS-A and KERNELS-B). For each kernel it draws random model
specs (shapes, strides, padding, dilation, quantization ranges...), converts each to an int8 .tflite
(cached under .cache/kernel_models/), and runs ``--inputs-per-model`` random int8 inputs through the
TFLM interpreter and the compiled C driver, until ``--cases`` cases are done. A case = one random input
through one random one-op model.

    .venv/bin/python benchmarks/fuzz_kernels.py --cases 10000
    .venv/bin/python benchmarks/fuzz_kernels.py --cases 500 --kernels CONV_2D,MEAN --sanitize
    .venv/bin/python benchmarks/fuzz_kernels.py --cases 2000 --variant-cpu cortex-m4 --sanitize  # DSP variants
    .venv/bin/python benchmarks/fuzz_kernels.py --cases 300 --variant-cpu cortex-m55   # MVE variants, on QEMU

Prints a table (kernel, models, rejected models, cases, mismatches, seconds) and writes
``<out>/fuzz_kernels.json`` and ``<out>/fuzz_kernels.png`` (bar chart). Exit code 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import glob
import importlib
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@dataclass
class FuzzRow:
    kernel: str
    models: int = 0
    rejected: int = 0
    cases: int = 0
    mismatches: int = 0
    mismatching_models: int = 0
    seconds: float = 0.0
    first_failure: str = ""
    first_failure_spec: str = ""


def discover_kernels() -> dict:
    """Import tests/test_kernels_*.py so their KernelSpecs register themselves; return the registry."""
    from tests import kernel_harness as kh

    for path in sorted(glob.glob(str(ROOT / "tests" / "test_kernels_*.py"))):
        importlib.import_module(f"tests.{Path(path).stem}")
    return kh.REGISTRY


class QemuDriver:
    """Runs C cases through the `cpu` variant of one kernel on the CPU's QEMU board: one firmware per batch
    (tests/test_kernels_target.py's firmware: cases embedded as data, outputs printed in hex)."""

    def __init__(self, kspec, cpu: str, scratch: int, work: Path):
        self.kspec, self.cpu, self.scratch, self.work, self.n = kspec, cpu, scratch, work, 0

    def run(self, cases: list) -> list[bytes]:
        from convert import kernel_variants as kv
        from convert.measure import build_elf, run_qemu
        from tests import test_kernels_target as kt

        self.n += 1
        d = self.work / f"{self.kspec.key.lower()}_{self.cpu}_{self.n}"
        d.mkdir(parents=True, exist_ok=True)
        main, data = kt.firmware_source([(self.kspec.key, c, None) for c in cases], {self.kspec.key: self.kspec})
        (d / "kt_main.c").write_text(main)
        (d / "kt_cases.c").write_text(data)
        srcs = [*kv.variant_sources(self.kspec.key, self.cpu), *kv.common_sources(self.cpu)]
        elf = build_elf([d / "kt_main.c", d / "kt_cases.c", *srcs], kt.BOARDS[self.cpu], d / "build",
                        include_dirs=kv.include_dirs(self.cpu), defines={"NB_KERNEL_SCRATCH_BYTES": self.scratch},
                        opt="-O2", name="fuzz")
        rr = run_qemu(elf, kt.BOARDS[self.cpu], count=False, timeout_s=300)
        if rr.exit_code != 0:
            raise RuntimeError(f"firmware exit code {rr.exit_code}: {rr.stdout[-500:]}{rr.stderr[-500:]}")
        return kt.parse_outputs(rr.stdout, len(cases))


def variant_driver(kspec, cpu: str, sanitize: bool, scratch: int, work: Path, qemu: bool = False):
    """A driver of `kspec` compiled from the optimized variant sources of `cpu` (convert.kernel_variants), or
    None if the op has no variant: on the host (the DSP files build there with C fallbacks of the
    intrinsics), or with `qemu` (always for MVE: arm_mve.h is Arm-only) on the CPU's QEMU board."""
    from convert import kernel_variants as kv
    from tests import kernel_harness as kh

    if not kv.has_variant(kspec.key, cpu):
        return None
    work.mkdir(parents=True, exist_ok=True)
    if qemu or kv.kind(cpu) == "mve":
        return QemuDriver(kspec, kv._cpu(cpu), scratch, work)
    drv_c = work / f"drv_{kspec.key.lower()}.c"
    drv_c.write_text(kh.driver_source(kspec.c_body, kspec.c_includes))
    exe = work / f"drv_{kspec.key.lower()}_{cpu}"
    kh.compile_c([drv_c, *kv.variant_sources(kspec.key, cpu), *kv.common_sources(cpu)], exe, sanitize=sanitize,
                 include_dirs=kv.include_dirs(cpu), extra_flags=[f"-DNB_KERNEL_SCRATCH_BYTES={scratch}"])
    return kh.KernelDriver(exe=exe, sanitize=sanitize)


def fuzz_kernel(kspec, n_cases: int, inputs_per_model: int, seed: int, sanitize: bool, progress,
                driver=None) -> FuzzRow:
    import numpy as np

    from tests import kernel_harness as kh

    row = FuzzRow(kspec.key)
    rng = np.random.default_rng([seed, sum(kspec.key.encode())])
    driver = driver or kh.build_driver(kspec.c_body, kspec.c_sources, kspec.c_includes, sanitize=sanitize)
    t0 = time.perf_counter()
    consecutive_rejects = 0
    while row.cases < n_cases:
        spec = kspec.random_spec(rng)
        buf = kh.model_for(kspec, spec)
        row.models += 1
        if buf is None:
            row.rejected += 1
            consecutive_rejects += 1
            if consecutive_rejects > 200:
                row.first_failure = row.first_failure or "200 consecutive models rejected by the converter"
                break
            continue
        consecutive_rejects = 0
        n = min(inputs_per_model, n_cases - row.cases)
        try:
            res = kh.check_model(kspec, buf, n, rng, driver=driver)
        except Exception as e:  # a crash (e.g. sanitizer abort) counts as n mismatching cases
            res = kh.CheckResult(cases=n, mismatches=n, first_failure=f"{type(e).__name__}: {str(e)[:500]}")
        row.cases += res.cases
        row.mismatches += res.mismatches
        if res.mismatches:
            row.mismatching_models += 1
            if not row.first_failure:
                row.first_failure = res.first_failure
                row.first_failure_spec = repr(spec)
        progress.update(res.cases)
    row.seconds = time.perf_counter() - t0
    return row


def print_table(rows: list[FuzzRow]) -> None:
    hdr = (f"{'kernel':<22}{'models':>8}{'rejected':>10}{'cases':>10}{'mismatches':>12}"
           f"{'bad models':>12}{'s':>8}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r.kernel:<22}{r.models:>8}{r.rejected:>10}{r.cases:>10}{r.mismatches:>12}"
              f"{r.mismatching_models:>12}{r.seconds:>8.1f}")
    for r in rows:
        if r.first_failure:
            print(f"{r.kernel}: {r.first_failure}\n    spec: {r.first_failure_spec}")


def plot(rows: list[FuzzRow], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from train.atomic import atomic_path

    names = [r.kernel for r in rows]
    x = range(len(rows))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(rows) + 2), 4.5))
    ax.bar([i - 0.2 for i in x], [r.cases for r in rows], width=0.4, label="cases")
    ax.bar([i + 0.2 for i in x], [r.mismatches for r in rows], width=0.4, label="mismatches", color="tab:red")
    for i, r in enumerate(rows):
        ax.text(i + 0.2, max(r.mismatches, 1), str(r.mismatches), ha="center", va="bottom", fontsize=8)
    ax.set_yscale("symlog")
    ax.set_xticks(list(x))
    ax.set_xticklabels(names, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("count (symlog)")
    ax.set_title("int8 kernels vs. TFLite Micro: random one-op models")
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10000, help="random cases per kernel (default 10000)")
    ap.add_argument("--inputs-per-model", type=int, default=50, help="random inputs per converted model")
    ap.add_argument("--kernels", default="", help="comma-separated registry keys (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sanitize", action="store_true", help="use the ASan/UBSan driver builds")
    ap.add_argument("--variant-cpu", default="", help="fuzz the optimized variants of this CPU instead of the "
                    "portable kernels (cortex-m4 / cortex-m7: the DSP sources built for the host; cortex-m55: "
                    "the MVE sources on QEMU); only kernels with a variant (CONV_2D, DEPTHWISE_CONV_2D, "
                    "FULLY_CONNECTED) are run")
    ap.add_argument("--qemu", action="store_true", help="run --variant-cpu builds on the CPU's QEMU board (one "
                    "firmware per model)")
    ap.add_argument("--scratch", type=int, default=16384, help="NB_KERNEL_SCRATCH_BYTES of --variant-cpu builds")
    ap.add_argument("--out", default=str(ROOT / "runs" / "fuzz_kernels"), help="output directory")
    args = ap.parse_args(argv)

    from tqdm import tqdm

    from train.atomic import atomic_write_json

    registry = discover_kernels()
    keys = [k for k in args.kernels.split(",") if k] or list(registry)
    unknown = [k for k in keys if k not in registry]
    if unknown:
        print(f"unknown kernels {unknown}; registered: {sorted(registry)}", file=sys.stderr)
        return 2
    rows: list[FuzzRow] = []
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    drivers = {}
    if args.variant_cpu:
        for key in keys:
            d = variant_driver(registry[key], args.variant_cpu, args.sanitize, args.scratch, out / "drivers",
                               qemu=args.qemu)
            if d is not None:
                drivers[key] = d
        keys = list(drivers)
        if not keys:
            print(f"no kernel with a {args.variant_cpu} variant selected", file=sys.stderr)
            return 2
    with tqdm(total=args.cases * len(keys), unit="case", dynamic_ncols=True) as bar:
        for key in keys:
            bar.set_description(key)
            rows.append(fuzz_kernel(registry[key], args.cases, args.inputs_per_model, args.seed,
                                    args.sanitize, bar, driver=drivers.get(key)))
            # partial results survive an interrupted soak
            atomic_write_json(out / "fuzz_kernels.json", {"args": vars(args), "rows": [asdict(r) for r in rows]})
    print_table(rows)
    plot(rows, out / "fuzz_kernels.png")
    print(f"wrote {out / 'fuzz_kernels.json'} and {out / 'fuzz_kernels.png'}")
    return 1 if any(r.mismatches for r in rows) or any(r.cases < args.cases for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
