"""Generation-time kernel path switches (convert.kernel_variants.path_switches, nb_kernel_paths.h): a streaming
model's firmware links none of the many-output-position paths, a kws-like model's links them, both bit-exact."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from convert import kernel_variants as kv
from convert.codegen import Options, generate
from tests.kernel_harness import convert_keras, run_tflm

DSP_ALL = {"NB_DSP_CONV2D_BLOCKED": 1, "NB_DSP_DW_PLANAR": 1, "NB_DSP_DW_TABLED": 1}
MVE_ALL = {"NB_MVE_CONV2D_BLOCKED": 1, "NB_MVE_DW_WINDOW": 1, "NB_MVE_DW_GENERAL": 1}


def _ops(*specs: tuple[str, list[int], list[int], list[int], dict]) -> list[tuple[str, dict]]:
    return [(n, kv.op_path_params(n, x, w, y, o)) for n, x, w, y, o in specs]


# the default VAD's streaming ops: 1xN convolutions over time, 1-3 output positions per call
VAD_OPS = _ops(("CONV_2D", [1, 1, 3, 16], [24, 1, 3, 16], [1, 1, 1, 24], {}),
               ("DEPTHWISE_CONV_2D", [1, 1, 5, 24], [1, 1, 3, 24], [1, 1, 3, 24], {}),
               ("CONV_2D", [1, 1, 3, 24], [24, 1, 1, 24], [1, 1, 3, 24], {}))
# kws_ref_model's ops: conv0 10x4 stride 2 (125 positions), depthwise 3x3 'same', pointwise
KWS_OPS = _ops(("CONV_2D", [1, 49, 10, 1], [64, 10, 4, 1], [1, 25, 5, 64], {"stride_h": 2, "stride_w": 2}),
               ("DEPTHWISE_CONV_2D", [1, 25, 5, 64], [1, 3, 3, 64], [1, 25, 5, 64], {}),
               ("CONV_2D", [1, 25, 5, 64], [64, 1, 1, 64], [1, 25, 5, 64], {}))


def test_switches_are_off_for_a_streaming_model_and_on_for_kws():
    for cpu in ("cortex-m4", "cortex-m7"):
        assert kv.path_switches(VAD_OPS, cpu) == dict.fromkeys(DSP_ALL, 0)
        assert kv.path_switches(KWS_OPS, cpu) == DSP_ALL
    assert kv.path_switches(VAD_OPS, "cortex-m55") == dict.fromkeys(MVE_ALL, 0)
    assert kv.path_switches(KWS_OPS, "cortex-m55") == MVE_ALL
    assert kv.path_switches(KWS_OPS, "host") == {}
    h = kv.path_switches_header(VAD_OPS)
    assert all(f"#define {s} 0" in h for s in (*DSP_ALL, *MVE_ALL))
    h = kv.path_switches_header(KWS_OPS)
    assert all(f"#define {s} 1" in h for s in (*DSP_ALL, *MVE_ALL))


def test_switch_predicates_follow_the_c_dispatch():
    conv = "CONV_2D"
    # DSP: >= 4 positions per batch item; MVE: >= 4 positions per call (batch included); groups never
    p = kv.op_path_params(conv, [2, 1, 4, 8], [8, 1, 2, 8], [2, 1, 3, 8], {})
    assert kv.op_paths(conv, "cortex-m4", **p) == set()
    assert kv.op_paths(conv, "cortex-m55", **p) == {"NB_MVE_CONV2D_BLOCKED"}
    p = kv.op_path_params(conv, [1, 4, 4, 8], [8, 1, 1, 4], [1, 4, 4, 8], {})  # grouped
    assert kv.op_paths(conv, "cortex-m4", **p) == kv.op_paths(conv, "cortex-m55", **p) == set()
    p = kv.op_path_params(conv, [1, 2, 2, 8], [8, 1, 1, 8], [1, 2, 2, 8], {})
    assert kv.op_paths(conv, "cortex-m4", **p) == {"NB_DSP_CONV2D_BLOCKED"}
    # g42 (generation-time weights) is a case of the blocked path: same position / group predicate
    for n_pos, grouped in ((3, False), (4, False), (4, True), (100, False)):
        assert kv.g42_applies(-128, 127, n_pos, grouped) == kv.conv2d_blocked_may_apply("cortex-m4", n_pos, 1, grouped)
    dw = "DEPTHWISE_CONV_2D"

    def paths(x, w, y, o=None):
        p = kv.op_path_params(dw, x, w, y, o or {})
        return kv.op_paths(dw, "cortex-m4", **p) | kv.op_paths(dw, "cortex-m55", **p)

    assert paths([1, 1, 5, 8], [1, 1, 3, 8], [1, 1, 3, 8]) == set()  # direct path
    assert paths([2, 1, 4, 8], [1, 1, 3, 8], [2, 1, 2, 8]) == {  # 4 positions with batch, 1x3: not planar
        "NB_DSP_DW_TABLED", "NB_MVE_DW_GENERAL", "NB_MVE_DW_WINDOW"}
    assert paths([1, 1, 5, 8], [1, 1, 3, 16], [1, 1, 3, 16]) == {"NB_DSP_DW_TABLED", "NB_MVE_DW_GENERAL"}  # dm 2
    assert paths([1, 5, 1, 8], [1, 5, 5, 8], [1, 1, 1, 8]) == {"NB_DSP_DW_TABLED", "NB_MVE_DW_GENERAL"}  # 25 taps
    assert paths([1, 8, 8, 8], [1, 3, 3, 8], [1, 4, 4, 8], {"stride_h": 2, "stride_w": 2}) == {
        "NB_DSP_DW_TABLED", "NB_MVE_DW_GENERAL"}
    assert paths([1, 8, 8, 8], [1, 3, 3, 8], [1, 8, 8, 8]) == {
        "NB_DSP_DW_TABLED", "NB_DSP_DW_PLANAR", "NB_MVE_DW_GENERAL", "NB_MVE_DW_WINDOW"}
    # unknown shapes: every path of the op
    assert kv.op_paths(dw, "cortex-m4") == {"NB_DSP_DW_TABLED", "NB_DSP_DW_PLANAR"}
    assert kv.op_paths(conv, "cortex-m55") == {"NB_MVE_CONV2D_BLOCKED"}
    # the thresholds are the C files' own
    src = {f: (kv.KERNELS_DIR / f).read_text() for f in ("dsp/nb_conv2d_dsp.c", "mve/nb_conv2d_mve.c",
                                                        "dsp/nb_depthwise_conv2d_dsp.c",
                                                        "mve/nb_depthwise_conv2d_mve.c")}

    def define(f: str, name: str) -> int:
        return int(re.search(rf"#define {name} (\d+)", src[f]).group(1))

    assert define("dsp/nb_conv2d_dsp.c", "NB_DSP_W16_MIN_POS") == kv.DSP_W16_MIN_POS
    assert define("mve/nb_conv2d_mve.c", "NB_CONVM_BLOCK_MIN_POS") == kv.DSP_W16_MIN_POS
    assert define("dsp/nb_depthwise_conv2d_dsp.c", "NB_DW_DIRECT_MAX_POS") == kv.DW_DIRECT_MAX_POS
    assert define("mve/nb_depthwise_conv2d_mve.c", "NB_DWM_DIRECT_MAX_POS") == kv.DW_DIRECT_MAX_POS
    assert define("dsp/nb_depthwise_conv2d_dsp.c", "NB_DW_DIRECT_MAX_TAPS") == 16
    for f, names in (("dsp/nb_conv2d_dsp.c", ["NB_DSP_CONV2D_BLOCKED"]),
                     ("dsp/nb_depthwise_conv2d_dsp.c", ["NB_DSP_DW_PLANAR", "NB_DSP_DW_TABLED"]),
                     ("mve/nb_conv2d_mve.c", ["NB_MVE_CONV2D_BLOCKED"]),
                     ("mve/nb_depthwise_conv2d_mve.c", ["NB_MVE_DW_WINDOW", "NB_MVE_DW_GENERAL"])):
        for n in names:  # default 1 when nb_kernel_paths.h leaves it undefined
            assert f"#ifndef {n}\n#define {n} 1\n#endif" in src[f]


def _model(kind: str) -> bytes:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.keras.utils.set_random_seed(4)
    L = tf.keras.layers
    if kind == "stream":  # 1x5 frames of 8 channels: 1xN convolutions with 1-3 output positions
        x = inp = tf.keras.Input((1, 5, 8), batch_size=1)
        x = L.DepthwiseConv2D((1, 3), activation="relu")(x)  # 3 positions: direct path
        x = L.Conv2D(12, (1, 3))(x)  # 1 position
        x = L.Conv2D(8, 1, activation="relu6")(x)
        lo, hi = -2.0, 2.0
    else:  # kws-like: many positions, 3x3 'same' depthwise, pointwise
        x = inp = tf.keras.Input((6, 5, 4), batch_size=1)
        x = L.Conv2D(16, 3, padding="same", activation="relu")(x)
        x = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
        x = L.Conv2D(16, 1)(x)
        lo, hi = -2.0, 2.0
    return bytes(convert_keras(tf.keras.Model(inp, x), [(lo, hi)], seed=1))


BLOCKED_SYMS = {"m4": ("nb_conv2d_blocked", "nb_dsp_g42_n", "nb_dw_planar", "nb_dwp_mac3q_s", "nb_dw_tabled"),
                "m55": ("nb_conv2d_blocked", "nb_dwm_chunk", "nb_dwm_rq4")}


@pytest.mark.parametrize("kind", ["stream", "kws"])
def test_generated_firmware_links_only_the_paths_its_ops_take(tmp_path: Path, kind: str):
    buf = _model(kind)
    model = tmp_path / f"{kind}.tflite"
    model.write_bytes(buf)
    rng = np.random.default_rng(7)
    from convert.tflite_ir import read_tflite

    m = read_tflite(buf)
    shape = m.tensors[m.inputs[0]].shape
    inputs = [[rng.integers(-128, 127, size=shape, endpoint=True).astype(np.int8)] for _ in range(2)]
    out = tmp_path / "fw"
    generate(model, out, Options(test_inputs=inputs, tflm_arena=False))
    header = (out / "nb" / "target" / "dsp" / "nb_kernel_paths.h").read_text()
    on = int(kind == "kws")
    assert all(f"#define {s} {on}\n" in header for s in (*DSP_ALL, *MVE_ALL)), header
    assert json.loads((out / "firmware.json").read_text())["kernel_paths"] == {s: on for s in (*DSP_ALL, *MVE_ALL)}
    want = [run_tflm(buf, xs)[0].reshape(-1) for xs in inputs]
    # kws-like: also with every switch forced to 0 on the command line (-D wins over the header): the calls
    # then fall back to the streaming / reference paths, still bit-exact
    forced = " ".join(f"-D{s}=0" for s in (*DSP_ALL, *MVE_ALL))
    for defs, linked in [("", bool(on))] + ([(forced, False)] if on else []):
        _build_and_check(out, defs, linked, inputs, want)


def _build_and_check(out: Path, defs: str, linked: bool, inputs: list, want: list[np.ndarray]) -> None:
    r = subprocess.run(["make", "-s", "-B", "-C", str(out), "m4", "m55", f"APP_DEFS={defs}"], capture_output=True,
                       text=True)
    assert r.returncode == 0 and "warning" not in r.stderr.lower(), r.stdout + r.stderr
    for cpu, board in (("m4", "mps2-an386"), ("m55", "mps3-an547")):
        elf = out / "build" / cpu / "app.elf"
        syms = {ln.split()[-1] for ln in subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True,
                                                         text=True, check=True).stdout.splitlines()}
        assert "nb_conv2d" in syms and "nb_depthwise_conv2d" in syms
        present = {s for s in BLOCKED_SYMS[cpu] if s in syms}
        assert present == (set(BLOCKED_SYMS[cpu]) if linked else set()), (cpu, defs, present)
        r = subprocess.run(["make", "-s", "-C", str(out), "run-qemu", f"BOARD={board}"], capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        got = [bytes.fromhex(ln.split()[3]) for ln in r.stdout.splitlines() if ln.startswith("O ")]
        assert len(got) == len(inputs)
        for g, w in zip(got, want, strict=True):
            assert np.array_equal(np.frombuffer(g, np.int8), w), (cpu, defs)
