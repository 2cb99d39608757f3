"""Code generator: memory plan invariants, op parameters, whole-model bit-exactness of the generated C
(host build with AddressSanitizer/UBSan) against the TFLite Micro interpreter, cross builds, CLI, errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convert import memplan
from convert.codegen import Options, generate, resolve_source
from convert.op_params import op_params
from convert.tflite_ir import Operator, Quantization, Subgraph, Tensor, read_tflite
from tests.shared_models import KWS_MODEL
from train.errors import ConversionError, DataError, UsageError

KWS = KWS_MODEL


def _kws_inputs(n: int, seed: int) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        if k % 2 == 0:  # around the input zero point: realistic, unsaturated outputs
            x = 83 + rng.normal(scale=6 + 4 * k, size=490)
        else:
            x = rng.integers(-128, 127, size=490, endpoint=True)
        out.append([np.clip(np.round(x), -128, 127).astype(np.int8)])
    return out


def _tflm(buf: bytes, xs: list[np.ndarray]) -> list[np.ndarray]:
    from tflite_micro.python.tflite_micro import runtime

    it = runtime.Interpreter.from_bytes(buf, arena_size=1 << 20)
    for i, x in enumerate(xs):
        it.set_input(x.reshape(it.get_input_details(i)["shape"]), i)
    it.invoke()
    return [np.array(it.get_output(i)).reshape(-1) for i in range(len(read_tflite(buf).outputs))]


def _make(out: Path, *targets: str, defs: str = "") -> None:
    cmd = ["make", "-s", "-B", "-C", str(out), *targets]
    if defs:
        cmd.append(f"APP_DEFS={defs}")
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "warning" not in r.stderr.lower(), r.stderr


def _outputs(text: str) -> dict[tuple[int, int], bytes]:
    res = {}
    for line in text.splitlines():
        if line.startswith("O "):
            _, n, k, hx = line.split()
            res[(int(n), int(k))] = bytes.fromhex(hx)
    return res


@pytest.fixture(scope="module")
def kws_project(tmp_path_factory):
    out = tmp_path_factory.mktemp("fw") / "kws"
    inputs = _kws_inputs(6, seed=3)
    info = generate(KWS, out, Options(test_inputs=inputs, tflm_arena=False))
    return out, inputs, info


def test_kws_host_build_bit_exact_to_tflm_under_sanitizers(kws_project):
    out, inputs, info = kws_project
    _make(out, "host")
    r = subprocess.run([str(out / "build/host/app")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    got = _outputs(r.stdout)
    buf = KWS.read_bytes()
    assert len(got) == len(inputs)
    distinct = set()
    for n, xs in enumerate(inputs):
        exp = _tflm(buf, xs)[0]
        assert np.array_equal(np.frombuffer(got[(n, 0)], np.int8), exp), (n, exp)
        distinct.add(tuple(exp.tolist()))
    assert len(distinct) > 1  # the inputs exercise different outputs
    assert f"NB_DONE {len(inputs)}" in r.stdout


def test_kws_plan_and_project_files(kws_project):
    out, _, info = kws_project
    assert info["arena_bytes"] == 16000  # two 25x5x64 int8 activations ping-pong; RESHAPE aliases
    assert info["arena_bytes"] >= info["arena_lower_bound_bytes"]
    assert info["macs_total"] == 2_656_768
    proj = json.loads((out / "project.json").read_text())
    from convert.measure import load_project

    p = load_project(out)  # MEASURE's schema accepts it
    assert p.target == "cortex-m4" and p.board == "mps2-an386"
    assert p.stages[8] == "op0_conv_2d" and p.stages[8 + 12] == "op12_softmax"
    assert proj["defines"]["NB_STAGE_MARKERS"] == 1
    # the target's CPU (M4) builds the DSP variants instead of the portable conv/depthwise/FC kernels
    from convert import kernel_variants as kv

    assert "nb/target/dsp/nb_conv2d_dsp.c" in proj["sources"] and "nb/nb_conv2d.c" not in proj["sources"]
    assert "nb/target/dsp/nb_kernel_scratch.c" in proj["sources"] and "nb/target/dsp" in proj["include_dirs"]
    model = read_tflite(KWS.read_bytes())
    # CONV_2D ops with a generation-time DSP stream (nb_model_data.c) need only their column pair then
    data = (out / "nb/nb_model_data.c").read_text()
    need = max(kv.scratch_bytes_for_op(_resolved(model, op), "cortex-m4", prepared=f"nb_p{k}_g42[" in data)
               for k, op in enumerate(model.operators))
    assert data.count("_g42[") == 5  # conv0 and the four pointwise convolutions
    assert need <= proj["defines"]["NB_KERNEL_SCRATCH_BYTES"] < need + 16
    assert {f.name for f in p.root.glob("nb/target/mve/*.c")} == {
        "nb_conv2d_mve.c", "nb_depthwise_conv2d_mve.c", "nb_fully_connected_mve.c"}
    src = (out / "nb/nb_model.c").read_text()
    assert src.count("NB_STAGE_BEGIN(") == src.count("NB_STAGE_END(") >= 13
    assert "malloc" not in src and "malloc" not in (out / "nb/nb_model_data.c").read_text()
    kernels = {p.name for p in (out / "nb").glob("nb_*.c")}
    assert "nb_add.c" not in kernels and "nb_conv2d.c" in kernels  # only the ops used
    resolver = (out / "tflm/main.cc").read_text()
    assert "MicroMutableOpResolver<6>" in resolver and "AddDepthwiseConv2D" in resolver
    assert (out / "tflm/model_data.cc").read_text().count("0x") == KWS.stat().st_size



def test_kws_without_prepared_weights_keeps_flash_and_sizes_scratch_for_per_call_prep(tmp_path):
    from convert import kernel_variants as kv

    out = tmp_path / "kws"
    generate(KWS, out, Options(n_test_inputs=1, tflm_arena=False, prepared_weights=False))
    assert "_g42[" not in (out / "nb/nb_model_data.c").read_text()
    model = read_tflite(KWS.read_bytes())
    need = max(kv.scratch_bytes_for_op(_resolved(model, op), "cortex-m4") for op in model.operators)
    proj = json.loads((out / "project.json").read_text())
    assert need <= proj["defines"]["NB_KERNEL_SCRATCH_BYTES"] < need + 16

def _resolved(model, op):
    """An operator with its tensors resolved (what kernel_variants.scratch_bytes_for_op reads)."""
    from types import SimpleNamespace

    return SimpleNamespace(name=op.name, inputs=[model.tensors[i] if i >= 0 else None for i in op.inputs],
                           outputs=[model.tensors[i] for i in op.outputs], options=op.options)


def test_kws_cross_builds_for_m4_m7_m55(kws_project):
    out, _, _ = kws_project
    _make(out, "m4", "m7", "m55")
    for cpu in ("m4", "m7", "m55"):
        assert (out / "build" / cpu / "app.elf").is_file()


@pytest.mark.parametrize(("cpu", "board", "variant"), [("m4", "mps2-an386", "dsp"), ("m55", "mps3-an547", "mve")])
def test_kws_runs_on_qemu_bit_exact_with_kernel_variants(kws_project, cpu, board, variant):
    """End to end on QEMU through the optimized kernels (DSP on M4, Helium on M55) vs TFLite Micro."""
    out, inputs, _ = kws_project
    _make(out, cpu)
    elf = out / "build" / cpu / "app.elf"
    assert "nb_kernel_scratch" in (out / "build" / cpu / "app.map").read_text()  # only the variants use it
    # the variant's own functions are linked (the depthwise of both ends in helpers: look at the whole ELF)
    syms = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True).stdout
    dis = subprocess.run(["arm-none-eabi-objdump", "-d", str(elf)], capture_output=True, text=True).stdout
    assert (" nb_dwp_" in syms) == (variant == "dsp") and ("smlad" in dis) == (variant == "dsp")
    assert (" nb_dwm_" in syms) == (variant == "mve") and ("vqrdmulh" in dis) == (variant == "mve")
    # the int8 filters of the 5 ops with generation-time DSP streams: left out of the DSP build (only the
    # fallbacks read them), kept for the Helium one
    data = (out / "nb/nb_model_data.c").read_text()
    stream_only = re.findall(r"#if !NB_DSP_STREAM_ONLY\nconst int8_t (nb_w\d+)\[", data)
    names = {ln.split()[-1] for ln in syms.splitlines()}
    assert len(stream_only) == 5 and all((n in names) == (variant == "mve") for n in stream_only)
    r = subprocess.run(["make", "-s", "-C", str(out), "run-qemu", f"BOARD={board}"], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    got = _outputs(r.stdout)
    buf = KWS.read_bytes()
    assert len(got) == len(inputs)
    for n, xs in enumerate(inputs):
        assert np.array_equal(np.frombuffer(got[(n, 0)], np.int8), _tflm(buf, xs)[0])


# ---------------------------------------------------------------------------------------- memory plan


def _chain_subgraph(sizes: list[int], skips: list[tuple[int, int]], reshape_at: set[int]) -> Subgraph:
    """ops k: tensor k (+ optional skip input) -> tensor k+1; RESHAPE ops keep the size."""
    tensors = []
    for i, s in enumerate(sizes):
        tensors.append(Tensor(i, f"t{i}", (s,), "INT8", np.dtype(np.int8), 0,
                              Quantization(np.ones(1, np.float32), np.zeros(1, np.int64))))
    ops = []
    for k in range(len(sizes) - 1):
        ins = [k] + [a for a, b in skips if b == k + 1 and a < k]
        name = "RESHAPE" if k in reshape_at else "ADD"
        ops.append(Operator(k, name, 0, 1, 0, tuple(ins), (k + 1,)))
    return Subgraph(0, "g", tensors, ops, (0,), (len(sizes) - 1,))


@settings(max_examples=60, deadline=None, database=None)
@given(st.lists(st.integers(1, 300), min_size=2, max_size=12), st.data())
def test_memory_plan_never_overlaps_live_tensors(sizes, data):
    n = len(sizes)
    skips = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=4))
    reshape_at = set(data.draw(st.lists(st.integers(0, n - 2), max_size=3)))
    for k in sorted(reshape_at):  # in order, so chained RESHAPEs keep one size
        sizes[k + 1] = sizes[k]
    sg = _chain_subgraph(sizes, skips, reshape_at)
    plan = memplan.plan_memory(sg)
    memplan.check_plan(sg, plan)
    assert plan.lower_bound <= plan.arena_bytes <= plan.naive_bytes + plan.alignment * len(sizes)
    for k in reshape_at:  # RESHAPE output aliases its input
        assert plan.offsets[k] == plan.offsets[k + 1]


def test_memory_plan_respects_external_tensors():
    sg = _chain_subgraph([64, 64, 64, 64], [], set())
    plan = memplan.plan_memory(sg, external={0})
    assert 0 not in plan.offsets and set(plan.offsets) == {1, 2, 3}
    assert plan.arena_bytes == 128  # t1/t3 share, t2 in the other half


# ----------------------------------------------------------------------------------------- op params


def test_op_params_match_kernel_test_arithmetic():
    m = read_tflite(KWS)
    p = op_params(m.main, m.operators[0])
    from convert import quant

    x, w, o = (m.tensors[i] for i in (*m.operators[0].inputs[:2], m.operators[0].outputs[0]))
    mult, shift = quant.conv_multipliers(float(x.quantization.scale[0]), w.quantization.scale,
                                         float(o.quantization.scale[0]), n_channels=64)
    assert [a.values for a in p.arrays] == [tuple(mult.tolist()), tuple(shift.tolist())]
    assert ".pad_h = 4" in p.init and ".pad_w = 1" in p.init  # SAME, 10x4 filter, stride 2 on 49x10
    sm = op_params(m.main, m.operators[12])
    assert sm.kernel == "nb_softmax" and ".depth = 12" in sm.init


def test_unsupported_op_is_a_conversion_error():
    m = read_tflite(KWS)
    op = m.operators[12]
    bad = Operator(op.index, "HARD_SWISH", 0, 1, 0, op.inputs, op.outputs)
    with pytest.raises(ConversionError, match="HARD_SWISH"):
        op_params(m.main, bad)


def test_error_paths(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        resolve_source(tmp_path / "missing.tflite")
    with pytest.raises(DataError, match="no model.tflite"):
        resolve_source(tmp_path)
    (tmp_path / "x.tflite").write_bytes(b"not a model at all")
    with pytest.raises(DataError, match="not a TFLite"):
        generate(tmp_path / "x.tflite", tmp_path / "out", Options(tflm_arena=False))
    with pytest.raises(UsageError, match="unknown target"):
        generate(KWS, tmp_path / "out", Options(target="cortex-z9", tflm_arena=False))
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_cli_firmware_command(tmp_path):
    model = tmp_path / "kws.tflite"
    shutil.copyfile(KWS, model)
    r = subprocess.run([sys.executable, "-m", "noisebudget", "firmware", str(model),
                        "--target", "cortex-m7", "-o", str(tmp_path / "fw"), "--inputs", "1"],
                       capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1], timeout=600)
    assert r.returncode == 0, r.stderr
    assert "TFLM arena: 24,272 B" in r.stdout and "arena: 16,000 B" in r.stdout
    info = json.loads((tmp_path / "fw/firmware.json").read_text())
    assert info["board"] == "mps2-an500" and info["tflm_arena_bytes"] == 24272
    r = subprocess.run([sys.executable, "-m", "noisebudget", "firmware", str(model),
                        "-o", str(tmp_path / "fw2"), "--inputs", "0"], capture_output=True, text=True,
                       cwd=Path(__file__).resolve().parents[1])
    assert r.returncode == 2 and "--inputs" in r.stderr


# ----------------------------------------------------------------- many op types, two inputs/outputs, float I/O


def _mixed_model() -> bytes:
    """Two inputs, two outputs, float32 I/O (QUANTIZE / DEQUANTIZE at the edges) and 13 int8 op types."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.keras.utils.set_random_seed(1)
    a = tf.keras.Input((8, 6, 3), batch_size=1, name="a")
    b = tf.keras.Input((4,), batch_size=1, name="b")
    x = tf.keras.layers.Conv2D(5, 3, padding="same", activation="relu6")(a)
    x = tf.keras.layers.ZeroPadding2D(((1, 0), (0, 1)))(x)
    x = tf.keras.layers.MaxPooling2D(2)(x)
    y = tf.keras.layers.AveragePooling2D((2, 1), padding="same")(x)
    m = tf.keras.layers.Concatenate()([tf.keras.ops.mean(y, axis=[1, 2]), b])
    t = tf.keras.layers.Dense(7, activation="tanh")(m)
    s = t[:, 1:6]
    z = tf.keras.layers.Multiply()([s, s]) + tf.keras.layers.Dense(5)(b)
    km = tf.keras.Model([a, b], [tf.keras.layers.Softmax()(z), t])
    rng = np.random.default_rng(0)

    def rep():
        for _ in range(50):
            yield {"a": rng.normal(size=(1, 8, 6, 3)).astype(np.float32),
                   "b": rng.normal(size=(1, 4)).astype(np.float32)}

    c = tf.lite.TFLiteConverter.from_keras_model(km)
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    c.representative_dataset = rep
    c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return bytes(c.convert())


def test_mixed_ops_multi_io_float_io_bit_exact(tmp_path):
    buf = _mixed_model()
    model = tmp_path / "mixed.tflite"
    model.write_bytes(buf)
    m = read_tflite(buf)
    assert {"QUANTIZE", "DEQUANTIZE", "MEAN", "PAD", "MAX_POOL_2D", "TANH", "STRIDED_SLICE", "MUL",
            "CONCATENATION", "SOFTMAX"} <= set(m.op_names())
    rng = np.random.default_rng(2)
    inputs = [[rng.normal(size=m.tensors[i].shape).astype(np.float32) * (1 + n) for i in m.inputs]
              for n in range(4)]
    out = tmp_path / "fw"
    generate(model, out, Options(test_inputs=inputs, tflm_arena=False))
    _make(out, "host")
    r = subprocess.run([str(out / "build/host/app")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    got = _outputs(r.stdout)
    from tflite_micro.python.tflite_micro import runtime

    it = runtime.Interpreter.from_bytes(buf, arena_size=1 << 20)
    for n, xs in enumerate(inputs):
        for i, x in enumerate(xs):
            it.set_input(x, i)
        it.invoke()
        for k in range(len(m.outputs)):
            assert np.array(it.get_output(k)).tobytes() == got[(n, k)], (n, k)
    _make(out, "m55")
