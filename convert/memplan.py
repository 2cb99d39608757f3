"""Static, liveness-based memory plan of a model's activation tensors in one arena (no malloc at run time).

    plan = plan_memory(subgraph, external={state tensor indices}, alignment=16)
    plan.arena_bytes, plan.offsets[tensor_index], plan.buffers

Every non-constant tensor that is not `external` (e.g. streaming state kept in its own persistent buffer)
gets a byte range in the arena. Lifetimes are op-index intervals: a tensor lives from the op that writes it
(-1 for subgraph inputs) to its last reader (`n_ops` for subgraph outputs, which stay readable after the
run). Two tensors whose lifetimes overlap never share bytes - an op's inputs and outputs overlap at that op,
so kernels never run in place. RESHAPE outputs alias their input (same bytes: the kernel is then a no-op),
forming one buffer whose lifetime is the union.

Placement is greedy by size (largest buffer first, ties by first use), each buffer at the lowest aligned
offset that does not collide with an already-placed buffer of overlapping lifetime - the strategy of TFLM's
GreedyMemoryPlanner. `lower_bound` (the largest sum of live bytes at any op) shows how close it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from convert.tflite_ir import Subgraph


@dataclass
class Buffer:
    tensors: list[int]  # tensor indices sharing these bytes (RESHAPE aliases)
    size: int  # bytes
    first: int  # op index of the first write (-1 = subgraph input)
    last: int  # op index of the last read (n_ops = subgraph output)
    offset: int = -1


@dataclass
class MemoryPlan:
    arena_bytes: int
    alignment: int
    offsets: dict[int, int]  # tensor index -> byte offset in the arena
    buffers: list[Buffer] = field(default_factory=list)
    lower_bound: int = 0  # max over ops of the live bytes (no plan can do better)
    naive_bytes: int = 0  # every tensor in its own buffer

    def to_dict(self) -> dict:
        return {
            "arena_bytes": self.arena_bytes,
            "alignment": self.alignment,
            "lower_bound_bytes": self.lower_bound,
            "naive_bytes": self.naive_bytes,
            "buffers": [
                {"tensors": b.tensors, "bytes": b.size, "first_op": b.first, "last_op": b.last, "offset": b.offset}
                for b in self.buffers
            ],
        }


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def plan_memory(sg: Subgraph, *, external: set[int] | frozenset[int] = frozenset(), alignment: int = 16,
                alias_reshape: bool = True) -> MemoryPlan:
    n_ops = len(sg.operators)
    first: dict[int, int] = {}
    last: dict[int, int] = {}

    def planned(i: int) -> bool:
        return i >= 0 and i not in external and sg.tensors[i].data is None

    for i in sg.inputs:
        if planned(i):
            first[i] = -1
            last[i] = max(last.get(i, -1), -1)
    for op in sg.operators:
        for i in op.inputs:
            if planned(i):
                if i not in first:
                    first[i] = op.index  # read before written: treat as live from here (defensive)
                last[i] = max(last.get(i, op.index), op.index)
        for i in op.outputs:
            if planned(i):
                first.setdefault(i, op.index)
                last[i] = max(last.get(i, op.index), op.index)
    for i in sg.outputs:
        if planned(i):
            first.setdefault(i, -1)
            last[i] = n_ops

    # union-find for RESHAPE aliasing
    parent = {i: i for i in first}

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    if alias_reshape:
        for op in sg.operators:
            if op.name == "RESHAPE" and op.inputs and op.outputs:
                a, b = op.inputs[0], op.outputs[0]
                if planned(a) and planned(b) and sg.tensors[a].nbytes == sg.tensors[b].nbytes:
                    parent[root(b)] = root(a)

    groups: dict[int, list[int]] = {}
    for i in first:
        groups.setdefault(root(i), []).append(i)
    buffers = []
    for members in groups.values():
        members.sort()
        size = max(sg.tensors[i].nbytes for i in members)
        buffers.append(Buffer(members, size, min(first[i] for i in members), max(last[i] for i in members)))

    order = sorted(buffers, key=lambda b: (-b.size, b.first, b.tensors[0]))
    placed: list[Buffer] = []
    for b in order:
        conflicts = sorted(
            (p for p in placed if p.first <= b.last and b.first <= p.last), key=lambda p: p.offset
        )
        off = 0
        for p in conflicts:
            if off + b.size <= p.offset:
                break
            off = max(off, _align(p.offset + p.size, alignment))
        b.offset = off
        placed.append(b)
    arena = max((_align(b.offset + b.size, alignment) for b in buffers), default=0)
    lower = 0
    for t in range(-1, n_ops + 1):
        lower = max(lower, sum(b.size for b in buffers if b.first <= t <= b.last))
    offsets = {i: b.offset for b in buffers for i in b.tensors}
    naive = sum(_align(sg.tensors[i].nbytes, alignment) for i in first)
    buffers.sort(key=lambda b: (b.offset, b.first))
    return MemoryPlan(arena, alignment, offsets, buffers, lower, naive)


def check_plan(sg: Subgraph, plan: MemoryPlan) -> None:
    """Assert that no two buffers with overlapping lifetimes overlap in the arena (used by tests)."""
    bs = plan.buffers
    for i, a in enumerate(bs):
        assert a.offset % plan.alignment == 0 and a.offset + a.size <= plan.arena_bytes
        for b in bs[i + 1:]:
            if a.first <= b.last and b.first <= a.last:
                assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset, (a, b)
