"""`noisebudget inspect`: totals on the MLPerf Tiny KWS model, JSON output, TFLM arena, error exits."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from convert.arena import measure_arena
from convert.inspect import inspect_model
from noisebudget.cli import main
from tests.test_tflite_ir import CONV_MACS, KWS, build_test_models


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("tflite")
    paths = {}
    for name, data in build_test_models().items():
        p = d / f"{name}.tflite"
        p.write_bytes(data)
        paths[name] = str(p)
    return paths


def test_kws_text_report(capsys):
    assert main(["inspect", str(KWS)]) == 0
    out = capsys.readouterr().out
    assert "MACs            2,656,768" in out
    assert "DEPTHWISE_CONV_2D" in out and "1x25x5x64" in out
    assert "TFLM arena" in out


def test_kws_json(capsys):
    assert main(["inspect", str(KWS), "--json", "--no-arena"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["totals"]["macs"] == 2_656_768
    assert s["arena"] is None
    ops = s["subgraphs"][0]["ops"]
    assert len(ops) == 13 and s["totals"]["ops"] == 13
    assert sum(o["macs"] for o in ops) == s["totals"]["macs"]
    assert sum(o["params"] for o in ops) == s["totals"]["params"]
    first = ops[0]
    assert first["op"] == "CONV_2D" and first["kernel"] == "nb_conv_2d"
    assert first["input_shapes"][0] == [1, 49, 10, 1] and first["output_shapes"] == [[1, 25, 5, 64]]
    assert first["macs"] == 25 * 5 * 64 * 10 * 4
    assert first["params"] == 64 * 10 * 4 + 64 and first["weight_bytes"] == 64 * 40 + 64 * 4
    assert first["fused_activation"] == "RELU" and first["options"]["padding"] == "SAME"
    assert s["subgraphs"][0]["inputs"][0]["dtype"] == "INT8"


_PROBE = """
import sys
import numpy as np
from tflite_micro.python.tflite_micro import runtime
interp = runtime.Interpreter.from_bytes(open(sys.argv[1], "rb").read(), arena_size=int(sys.argv[2]))
interp.set_input(np.zeros((1, 49, 10, 1), np.int8), 0)
interp.invoke()
"""


def _runs_with_arena(size: int) -> bool:
    # In a subprocess: TFLM may segfault instead of raising when the arena is too small.
    r = subprocess.run([sys.executable, "-c", _PROBE, str(KWS), str(size)], capture_output=True)
    return r.returncode == 0


def test_arena_is_the_smallest_that_allocates():
    a = measure_arena(KWS.read_bytes())
    assert a.recorded_total is not None and a.arena_bytes >= a.recorded_total > 0
    assert a.recorded_head + a.recorded_tail == a.recorded_total
    assert _runs_with_arena(a.arena_bytes)
    assert not _runs_with_arena(a.arena_bytes - 1)


def test_small_models_hand_counts(models):
    s = inspect_model(models["conv"])
    assert [o["macs"] for o in s["subgraphs"][0]["ops"]] == CONV_MACS
    assert s["totals"]["macs"] == sum(CONV_MACS)
    assert s["arena"]["arena_bytes"] > 0
    acts = [o["fused_activation"] for o in s["subgraphs"][0]["ops"]]
    assert acts[:3] == ["RELU", "RELU6", "NONE"]
    m = inspect_model(models["misc"], arena=False)
    assert m["totals"]["macs"] == 8 * 6 * 4 * 3 * 3 * 4
    assert m["totals"]["elementwise_ops"] > 0
    assert m["op_counts"]["QUANTIZE"] >= 1


def test_float_model_with_allow_float(models, capsys):
    assert main(["inspect", models["float"], "--allow-float", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["totals"]["macs"] == sum(CONV_MACS)
    assert s["subgraphs"][0]["inputs"][0]["dtype"] == "FLOAT32"
    assert s["arena"]["arena_bytes"] > 0


@pytest.mark.parametrize(
    ("case", "pattern"),
    [
        ("float", r"float\.tflite: op 0 CONV_2D: input 0 .* is FLOAT32, int8 required"),
        ("leaky", r"leaky\.tflite: op 1 LEAKY_RELU: unsupported op LEAKY_RELU"),
        ("truncated", r"truncated\.tflite: .*(corrupt or truncated|beyond the end)"),
        ("random", r"random\.tflite: not a TFLite flatbuffer"),
        ("missing", r"missing\.tflite: no such file"),
    ],
)
def test_errors_exit_2_naming_the_problem(models, tmp_path, capsys, case, pattern):
    if case in ("float", "leaky"):
        path = models[case]
    else:
        path = tmp_path / f"{case}.tflite"
        if case == "truncated":
            path.write_bytes(KWS.read_bytes()[: KWS.stat().st_size // 2])
        elif case == "random":
            path.write_bytes(np.random.default_rng(3).bytes(2000))
    assert main(["inspect", str(path), "--json"]) == 2
    cap = capsys.readouterr()
    assert cap.out == ""
    assert cap.err.startswith("noisebudget inspect: error: ")
    assert re.search(pattern, cap.err), cap.err
