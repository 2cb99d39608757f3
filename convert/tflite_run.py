"""Run a streaming step .tflite with the LiteRT or the TFLite Micro Python interpreter.

`StepRunner(model_bytes, backend="tflm"|"litert")` maps the step model's inputs and outputs by name
(`frame`, `state0..`, outputs `prob`, `new_state0..`), quantizes the float frame with the input's own
parameters, feeds the int8 state back unchanged (state in and state out share quantization, which the
converter enforces through CONCATENATION / STRIDED_SLICE), and dequantizes the probability.

TFLM is the ground truth for our C kernels. `with_all_outputs(model_bytes)` marks every operator output
as a subgraph output so both interpreters expose every intermediate tensor for an op-by-op comparison.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from convert.tflite_ir import read_tflite, schema
from train.errors import ConversionError

TFLM_ARENA = 1 << 20


@dataclass(frozen=True)
class IOMap:
    frame: int  # position among the subgraph inputs
    states_in: list[int]  # positions of state0.. among the inputs
    prob: int  # position among the subgraph outputs
    states_out: list[int]  # positions of new_state0.. among the outputs


def io_map(model_bytes: bytes) -> IOMap:
    """Map the step model's named inputs/outputs to subgraph positions (via the serving signature)."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=model_bytes)
    sig = it._get_full_signature_list()
    if not sig:
        raise ConversionError("step model has no signature: cannot map frame/state inputs by name")
    s = next(iter(sig.values()))
    m = read_tflite(model_bytes)
    ins, outs = list(m.inputs), list(m.outputs)
    by_in = {name: ins.index(idx) for name, idx in s["inputs"].items()}
    # Keras names outputs output_0.. in model order: prob first, then the new states.
    out_items = sorted(s["outputs"].items(), key=lambda kv: int(re.sub(r"\D", "", kv[0]) or 0))
    out_pos = [outs.index(idx) for _, idx in out_items]
    n_states = len(by_in) - 1
    if "frame" not in by_in or len(out_pos) != n_states + 1:
        raise ConversionError(f"step model signature does not match frame + {n_states} states: {s}")
    return IOMap(
        frame=by_in["frame"],
        states_in=[by_in[f"state{i}"] for i in range(n_states)],
        prob=out_pos[0],
        states_out=out_pos[1:],
    )


def with_all_outputs(model_bytes: bytes) -> tuple[bytes, list[int]]:
    """Copy of the model whose subgraph outputs also include every operator's output tensor.

    Returns (bytes, tensor indices appended, in operator order)."""
    import flatbuffers

    mt = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model_bytes, 0))
    sg = mt.subgraphs[0]
    outs = list(sg.outputs)
    extra = []
    for op in sg.operators:
        for t in op.outputs:
            if t >= 0 and t not in outs and t not in extra:
                extra.append(int(t))
    sg.outputs = np.asarray(outs + extra, dtype=np.int32)
    b = flatbuffers.Builder(len(model_bytes) + 4096)
    b.Finish(mt.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output()), extra


class StepRunner:
    """One interpreter of a step model with int8 (or float) I/O."""

    def __init__(self, model_bytes: bytes, backend: str = "tflm", *, iomap: IOMap | None = None):
        self.backend = backend
        self.iomap = iomap or io_map(model_bytes)
        m = read_tflite(model_bytes)
        self._in_t = [m.tensors[i] for i in m.inputs]
        self._out_t = [m.tensors[i] for i in m.outputs]
        if backend == "tflm":
            from tflite_micro.python.tflite_micro import runtime

            self._it = runtime.Interpreter.from_bytes(model_bytes, arena_size=TFLM_ARENA)
        elif backend == "litert":
            from ai_edge_litert.interpreter import Interpreter, OpResolverType

            # the reference kernels, not the XNNPACK delegate (which rounds differently)
            self._it = Interpreter(model_content=model_bytes,
                                   experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
            self._it.allocate_tensors()
            self._in_idx = [d["index"] for d in self._it.get_input_details()]
            self._out_idx = [d["index"] for d in self._it.get_output_details()]
        else:
            raise ValueError(f"unknown backend {backend!r} (tflm, litert)")

    # ----------------------------------------------------------------- quantization
    def quantize_frame(self, frame: np.ndarray) -> np.ndarray:
        t = self._in_t[self.iomap.frame]
        frame = np.asarray(frame, np.float32).reshape(t.shape)
        if t.dtype == np.float32:
            return frame
        s, z = float(t.quantization.scale[0]), int(t.quantization.zero_point[0])
        return np.clip(np.round(frame / s) + z, -128, 127).astype(np.int8)

    def dequantize_prob(self, q: np.ndarray) -> np.ndarray:
        t = self._out_t[self.iomap.prob]
        if t.dtype == np.float32:
            return np.asarray(q, np.float32)
        s, z = float(t.quantization.scale[0]), int(t.quantization.zero_point[0])
        return (np.asarray(q, np.float32) - z) * s

    def init_state(self) -> list[np.ndarray]:
        out = []
        for p in self.iomap.states_in:
            t = self._in_t[p]
            zero = 0 if t.dtype == np.float32 else int(t.quantization.zero_point[0])
            out.append(np.full(t.shape, zero, dtype=t.dtype))
        return out

    # -------------------------------------------------------------------- running
    def invoke(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Raw invoke: inputs in subgraph order -> all outputs in subgraph order."""
        it = self._it
        if self.backend == "tflm":
            for i, a in enumerate(inputs):
                it.set_input(np.ascontiguousarray(a), i)
            it.invoke()
            return [np.array(it.get_output(i)) for i in range(len(self._out_t))]
        for i, a in zip(self._in_idx, inputs, strict=True):
            it.set_tensor(i, np.ascontiguousarray(a))
        it.invoke()
        return [np.array(it.get_tensor(i)) for i in self._out_idx]

    def step_raw(self, frame_q: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray], list]:
        m = self.iomap
        inputs: list[np.ndarray] = [None] * len(self._in_t)  # type: ignore[list-item]
        inputs[m.frame] = frame_q
        for p, s in zip(m.states_in, state, strict=True):
            inputs[p] = s
        outs = self.invoke(inputs)
        return outs[m.prob], [outs[p] for p in m.states_out], outs

    def run_clip(self, feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stream feats [T, K] from a zero state -> (raw prob outputs [T], dequantized probabilities [T])."""
        state = self.init_state()
        raw = []
        for t in range(feats.shape[0]):
            q, state, _ = self.step_raw(self.quantize_frame(feats[t]), state)
            raw.append(np.asarray(q).reshape(-1)[0])
        raw_a = np.asarray(raw)
        return raw_a, self.dequantize_prob(raw_a)
