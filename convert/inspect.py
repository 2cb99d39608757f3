"""Per-op summary of an int8 TFLite model: shapes, MACs, params, weight bytes, fused activation, arena.

`inspect_model(path_or_bytes, arena=True, require_int8=True) -> dict` (JSON-ready) and
`format_report(summary) -> str` (the text table `noisebudget inspect` prints).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from convert.ops import OP_TABLE, check_model, fused_activation, op_cost
from convert.tflite_ir import Model, Subgraph, Tensor, read_tflite


def _shape(t: Tensor | None) -> list[int] | None:
    return None if t is None else list(t.shape)


def _tensor_info(t: Tensor) -> dict[str, Any]:
    q = t.quantization
    info: dict[str, Any] = {
        "index": t.index,
        "name": t.name,
        "shape": list(t.shape),
        "dtype": t.type_name,
        "bytes": t.nbytes,
        "constant": t.is_constant,
    }
    if q is not None and q.is_quantized:
        info["scale"] = [float(s) for s in q.scale] if q.per_channel else float(q.scale[0])
        zp = q.zero_point
        info["zero_point"] = [int(z) for z in zp] if zp.size > 1 else (int(zp[0]) if zp.size else 0)
        if q.per_channel:
            info["quantized_dimension"] = q.quantized_dimension
    return info


def _subgraph_summary(sg: Subgraph) -> tuple[list[dict[str, Any]], dict[str, int]]:
    ops = []
    seen_params: set[int] = set()
    totals = {"macs": 0, "elementwise_ops": 0, "params": 0, "weight_bytes": 0, "const_bytes": 0}
    for op in sg.operators:
        cost = op_cost(sg, op)
        ins = sg.op_inputs(op)
        outs = sg.op_outputs(op)
        ops.append(
            {
                "index": op.index,
                "op": op.name,
                "kernel": OP_TABLE[op.name].kernel,
                "inputs": [None if t is None else t.index for t in ins],
                "input_shapes": [_shape(t) for t in ins],
                "output_shapes": [_shape(t) for t in outs],
                "macs": cost.macs,
                "elementwise_ops": cost.elementwise_ops,
                "params": cost.params,
                "weight_bytes": cost.weight_bytes,
                "fused_activation": fused_activation(op),
                "options": op.options,
            }
        )
        totals["macs"] += cost.macs
        totals["elementwise_ops"] += cost.elementwise_ops
        for ti in cost.param_tensors:  # a constant shared by two ops is stored (and counted) once
            if ti not in seen_params:
                seen_params.add(ti)
                totals["params"] += sg.tensors[ti].size
                totals["weight_bytes"] += sg.tensors[ti].nbytes
    totals["const_bytes"] = sum(t.nbytes for t in sg.tensors if t.is_constant)
    totals["activation_bytes"] = sum(t.nbytes for t in sg.tensors if not t.is_constant)
    return ops, totals


def summarize(model: Model, *, arena: dict[str, Any] | None = None) -> dict[str, Any]:
    """JSON-ready summary of an already read (and checked) model."""
    subgraphs = []
    totals = {"macs": 0, "elementwise_ops": 0, "params": 0, "weight_bytes": 0, "const_bytes": 0}
    for sg in model.subgraphs:
        ops, t = _subgraph_summary(sg)
        subgraphs.append(
            {
                "index": sg.index,
                "name": sg.name,
                "inputs": [_tensor_info(sg.tensors[i]) for i in sg.inputs],
                "outputs": [_tensor_info(sg.tensors[i]) for i in sg.outputs],
                "ops": ops,
                "totals": t,
            }
        )
        for k in totals:
            totals[k] += t[k]
    totals["ops"] = sum(len(sg.operators) for sg in model.subgraphs)
    return {
        "file": model.source,
        "file_bytes": model.size_bytes,
        "version": model.version,
        "description": model.description,
        "n_subgraphs": len(model.subgraphs),
        "op_counts": _op_counts(model),
        "subgraphs": subgraphs,
        "totals": totals,
        "arena": arena,
    }


def _op_counts(model: Model) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in model.op_names():
        counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


def inspect_model(
    path_or_bytes: str | os.PathLike[str] | bytes, *, arena: bool = True, require_int8: bool = True
) -> dict[str, Any]:
    """Read, check (ops in OP_TABLE, int8) and summarize a model; measure its TFLM arena if `arena`."""
    model = read_tflite(path_or_bytes)
    check_model(model, require_int8=require_int8)
    arena_info = None
    if arena:
        from convert.arena import measure_arena

        raw = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
        arena_info = measure_arena(raw, source=model.source).to_dict()
    return summarize(model, arena=arena_info)


_RIGHT = {0, 4, 5, 6, 7}  # right-aligned (numeric) columns of the op table


def _fmt_shapes(shapes: list[list[int] | None]) -> str:
    return ", ".join("-" if s is None else "x".join(str(d) for d in s) or "scalar" for s in shapes)


def format_report(s: dict[str, Any]) -> str:
    lines = [
        f"{s['file']}: TFLite v{s['version']}, {s['file_bytes']:,} bytes, {s['totals']['ops']} ops, "
        f"{s['n_subgraphs']} subgraph(s)"
    ]
    for sg in s["subgraphs"]:
        if s["n_subgraphs"] > 1:
            lines.append(f"\nsubgraph {sg['index']} '{sg['name']}'")
        for kind in ("inputs", "outputs"):
            for t in sg[kind]:
                q = ""
                if "scale" in t:
                    sc = t["scale"]
                    q = f" scale={sc:.6g} zp={t['zero_point']}" if not isinstance(sc, list) else " per-channel"
                lines.append(f"  {kind[:-1]:6s} {t['name']}: {'x'.join(map(str, t['shape']))} {t['dtype']}{q}")
        header = ["#", "op", "inputs", "outputs", "MACs", "elem ops", "params", "weight B", "act"]
        rows = [
            [
                str(o["index"]),
                o["op"],
                _fmt_shapes(o["input_shapes"]),
                _fmt_shapes(o["output_shapes"]),
                f"{o['macs']:,}",
                f"{o['elementwise_ops']:,}",
                f"{o['params']:,}",
                f"{o['weight_bytes']:,}",
                o["fused_activation"] or "",
            ]
            for o in sg["ops"]
        ]
        t = sg["totals"]
        rows.append(
            [
                "",
                "total",
                "",
                "",
                f"{t['macs']:,}",
                f"{t['elementwise_ops']:,}",
                f"{t['params']:,}",
                f"{t['weight_bytes']:,}",
                "",
            ]
        )
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

        def fmt(r: list[str], widths: list[int] = widths) -> str:
            return "  ".join(
                c.rjust(w) if i in _RIGHT else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )

        lines.append(fmt(header).rstrip())
        lines.append("  ".join("-" * w for w in widths))
        lines.extend(fmt(r).rstrip() for r in rows[:-1])
        lines.append("  ".join("-" * w for w in widths))
        lines.append(fmt(rows[-1]).rstrip())
    t = s["totals"]
    lines.append("")
    lines.append(f"MACs            {t['macs']:,}")
    lines.append(f"elementwise ops {t['elementwise_ops']:,}")
    lines.append(f"params          {t['params']:,}")
    lines.append(f"weight bytes    {t['weight_bytes']:,}  (all constants: {t['const_bytes']:,})")
    a = s.get("arena")
    if a:
        extra = "  (smallest arena that allocates and runs"
        if a.get("recorded_total") is not None:
            extra += (
                f"; in use after allocation {a['recorded_total']:,} = head {a['recorded_head']:,}"
                f" + tail {a['recorded_tail']:,}"
            )
        lines.append(f"TFLM arena      {a['arena_bytes']:,} bytes{extra})")
    return "\n".join(lines)
