"""The budget gate: compare a measurement (measure.json content) with a budget; table, JSON and JUnit XML.

    items = evaluate(measurement_dict, Budget(cpu_load=0.08, flash_bytes=..., ram_bytes=...))
    code = exit_code(items)        # 0 all within budget, 1 something over
    print(format_table(items)); write JSON via to_json(...), JUnit XML via to_junit(...)

Cycle budget: `cycles_per_hop` (limit on the worst measured hop's estimated cycles) and/or `cpu_load`
(the worst hop's cycles x hop rate / clock, as a fraction). Memory: flash and RAM bytes from the ELF.
Margin = (limit - measured) / limit: positive within budget, negative over.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from train.errors import DataError, UsageError

SCHEMA = "noisebudget.check/1"


@dataclass(frozen=True)
class Budget:
    cycles_per_hop: float | None = None
    cpu_load: float | None = None
    flash_bytes: int | None = None
    ram_bytes: int | None = None

    def validate(self) -> None:
        if self.cycles_per_hop is None and self.cpu_load is None:
            raise UsageError("no cycle budget: give cycles_per_hop or cpu_load")
        for k, v in asdict(self).items():
            if v is not None and (not isinstance(v, int | float) or not math.isfinite(v) or v <= 0):
                raise UsageError(f"budget {k} must be a positive number, got {v!r}")
        if self.cpu_load is not None and self.cpu_load > 1:
            raise UsageError(f"budget cpu_load is a fraction in (0, 1], got {self.cpu_load}")


@dataclass(frozen=True)
class CheckItem:
    name: str
    measured: float
    limit: float
    unit: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.measured <= self.limit

    @property
    def margin(self) -> float:
        return (self.limit - self.measured) / self.limit


def _num(m: dict[str, Any], key: str, where: str = "measurement") -> float:
    v = m
    for part in key.split("."):
        if not isinstance(v, dict) or part not in v:
            raise DataError(f"{where}: missing '{key}'")
        v = v[part]
    if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
        raise DataError(f"{where}: '{key}' must be a non-negative number, got {v!r}")
    return float(v)


def evaluate(
    m: dict[str, Any], budget: Budget, *, clock_hz: float | None = None, hop_rate_hz: float | None = None
) -> list[CheckItem]:
    budget.validate()
    if not isinstance(m, dict) or m.get("schema") != "noisebudget.measure/1":
        raise DataError("not a noisebudget measurement (schema 'noisebudget.measure/1' expected)")
    cycles = _num(m, "cycles_per_hop_max")
    items: list[CheckItem] = []
    detail = f"estimate, worst of {int(_num(m, 'hops_measured'))} measured hops ({m.get('timing_table')})"
    if budget.cycles_per_hop is not None:
        items.append(CheckItem("cycles_per_hop", cycles, float(budget.cycles_per_hop), "cycles", detail))
    if budget.cpu_load is not None:
        clock = clock_hz or m.get("clock_hz")
        rate = hop_rate_hz or m.get("hop_rate_hz")
        if not clock or not rate:
            raise UsageError("a cpu_load budget needs the clock and the hop rate (target profile)")
        items.append(
            CheckItem(
                "cpu_load",
                cycles * rate / clock,
                float(budget.cpu_load),
                "fraction",
                f"{detail} at {rate:g} hops/s, {clock / 1e6:g} MHz",
            )
        )
    if budget.flash_bytes is not None:
        items.append(
            CheckItem(
                "flash_bytes",
                _num(m, "memory.flash_bytes"),
                float(budget.flash_bytes),
                "bytes",
                ".text + .rodata + .data (+ vectors)",
            )
        )
    if budget.ram_bytes is not None:
        items.append(
            CheckItem(
                "ram_bytes", _num(m, "memory.ram_bytes"), float(budget.ram_bytes), "bytes", ".data + .bss + stack depth"
            )
        )
    return items


def exit_code(items: list[CheckItem]) -> int:
    return 0 if all(i.ok for i in items) else 1


def _fmt(v: float, unit: str) -> str:
    if unit == "fraction":
        return f"{100 * v:.2f} %"
    return f"{v:,.0f}"


def format_table(items: list[CheckItem], title: str = "") -> str:
    lines = [title] if title else []
    lines.append(f"{'check':16s} {'measured':>14s} {'limit':>14s} {'margin':>9s}  result")
    for i in items:
        lines.append(
            f"{i.name:16s} {_fmt(i.measured, i.unit):>14s} {_fmt(i.limit, i.unit):>14s} "
            f"{100 * i.margin:8.1f}%  {'ok' if i.ok else 'OVER BUDGET'}"
        )
    lines.append("within budget" if exit_code(items) == 0 else "OVER BUDGET")
    return "\n".join(lines)


def to_json(items: list[CheckItem], meta: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "ok": exit_code(items) == 0,
        "exit_code": exit_code(items),
        "checks": [{**asdict(i), "ok": i.ok, "margin": i.margin} for i in items],
        "meta": meta or {},
    }


def to_junit(items: list[CheckItem], suite: str = "noisebudget.check") -> str:
    """JUnit XML: one testcase per budget item; an over-budget item is a <failure>."""
    fails = sum(not i.ok for i in items)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<testsuites name={quoteattr(suite)} tests="{len(items)}" failures="{fails}" errors="0">',
        f'  <testsuite name={quoteattr(suite)} tests="{len(items)}" failures="{fails}" errors="0" skipped="0">',
    ]
    for i in items:
        msg = (
            f"{i.name}: measured {_fmt(i.measured, i.unit)} vs limit {_fmt(i.limit, i.unit)} "
            f"(margin {100 * i.margin:.1f}%)"
        )
        out.append(f"    <testcase classname={quoteattr(suite)} name={quoteattr(i.name)}>")
        if not i.ok:
            out.append(f"      <failure message={quoteattr('over budget: ' + msg)}>{escape(i.detail)}</failure>")
        else:
            out.append(f"      <system-out>{escape(msg)}</system-out>")
        out.append("    </testcase>")
    out += ["  </testsuite>", "</testsuites>", ""]
    return "\n".join(out)
