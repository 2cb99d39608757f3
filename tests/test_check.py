"""The budget gate on a tiny hand-written C "model" with stage markers, built for the Cortex-M4 board:
exit 0 within budget, 1 over, 2 on bad input; JSON and JUnit XML outputs; target profiles."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from convert.check import Budget, CheckItem, evaluate, exit_code, to_junit
from noisebudget.cli import main
from noisebudget.target_profiles import load_target, target_names
from train.errors import DataError, UsageError

MODEL_C = r"""
#include <stdint.h>
#include <stdio.h>
#include "nb_stage.h"

enum { ST_FRONTEND = 1, ST_DENSE = 2, ST_POST = 3 };
static const int8_t w[16][32] = {{1, -2, 3}, {4, 5, -6}};
static int8_t feat[32];
static int32_t acc[16];

static int8_t sat8(int32_t v) { return (int8_t)(v > 127 ? 127 : v < -128 ? -128 : v); }

int main(void) {
    int speech = 0;
    for (int hop = 0; hop < 5; hop++) {
        NB_HOP_BEGIN();
        NB_STAGE_BEGIN(ST_FRONTEND);
        for (int i = 0; i < 32; i++) feat[i] = sat8((hop * 7 + i * 3) % 50 - 25);
        NB_STAGE_END(ST_FRONTEND);
        NB_STAGE_BEGIN(ST_DENSE);
        for (int o = 0; o < 16; o++) {
            int32_t a = 0;
            for (int i = 0; i < 32; i++) a += (int32_t)w[o][i] * feat[i];
            acc[o] = a;
        }
        NB_STAGE_END(ST_DENSE);
        NB_STAGE_BEGIN(ST_POST);
        speech = acc[0] + acc[1] > 0;
        NB_STAGE_END(ST_POST);
        NB_HOP_END();
        printf("hop %d speech %d\n", hop, speech);
    }
    return 0;
}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("fw")
    (d / "src").mkdir()
    (d / "src" / "model.c").write_text(MODEL_C)
    (d / "project.json").write_text(
        json.dumps(
            {
                "name": "tiny",
                "target": "cortex-m4",
                "sources": ["src/*.c"],
                "warmup_hops": 1,
                "stages": {"1": "frontend", "2": "dense", "3": "post"},
                "budget": {"cpu_load": 0.5},
            }
        )
    )
    return d


@pytest.fixture(scope="module")
def measured(project, tmp_path_factory) -> Path:
    import os

    os.environ["NOISEBUDGET_CONFIG_DIR"] = str(tmp_path_factory.mktemp("cfg"))  # no user calibration
    assert main(["measure", str(project)]) == 0
    return project / "measure.json"


def test_measure_writes_stages(measured):
    m = json.loads(measured.read_text())
    assert m["schema"] == "noisebudget.measure/1"
    assert [s["name"] for s in m["stages"]] == ["frontend", "dense", "post"]
    assert m["hops_total"] == 5 and m["hops_measured"] == 4
    dense = m["stages"][1]
    assert dense["classes_per_hop"].get("load", 0) >= 16 * 32  # at least one load per weight
    assert sum(s["insns_per_hop_mean"] for s in m["stages"]) <= m["insns_per_hop_mean"]
    assert m["cycles_per_hop_max"] > 0 and m["memory"]["flash_bytes"] > 16 * 32


def test_within_budget_exits_0(measured, tmp_path):
    js, ju = tmp_path / "c.json", tmp_path / "c.xml"
    rc = main(["check", str(measured), "--cpu-load", "0.5", "--json", str(js), "--junit", str(ju)])
    assert rc == 0
    res = json.loads(js.read_text())
    assert res["ok"] and res["exit_code"] == 0
    assert {c["name"] for c in res["checks"]} == {"cpu_load", "flash_bytes", "ram_bytes"}
    root = ET.parse(ju).getroot()
    assert root.get("failures") == "0" and len(root.findall(".//testcase")) == 3


def test_over_budget_exits_1(measured, tmp_path):
    m = json.loads(measured.read_text())
    js, ju = tmp_path / "c.json", tmp_path / "c.xml"
    limit = m["cycles_per_hop_max"] * 0.9
    rc = main(["check", str(measured), "--cycles-per-hop", str(limit), "--json", str(js), "--junit", str(ju)])
    assert rc == 1
    res = json.loads(js.read_text())
    over = [c for c in res["checks"] if not c["ok"]]
    assert [c["name"] for c in over] == ["cycles_per_hop"] and over[0]["margin"] < 0
    fails = ET.parse(ju).getroot().findall(".//failure")
    assert len(fails) == 1 and "cycles_per_hop" in fails[0].get("message")
    assert main(["check", str(measured), "--cycles-per-hop", "1e9", "--flash-bytes", "100"]) == 1


def test_check_measures_a_project_folder(project, measured):
    assert main(["check", str(project)]) == 0  # project.json budget: cpu_load 0.5


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "/nonexistent/measure.json"],
        ["check", "{measured}", "--cpu-load", "-1"],
        ["check", "{measured}", "--cpu-load", "3"],
        ["check", "{bad_json}"],
        ["check", "{not_measure}"],
        ["check", "{measured}", "--target", "no-such-cpu"],
        ["measure", "{bad_project}"],
    ],
)
def test_bad_input_exits_2(measured, tmp_path, argv):
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    not_measure = tmp_path / "other.json"
    not_measure.write_text('{"schema": "something else"}')
    bad_project = tmp_path / "proj"
    bad_project.mkdir()
    (bad_project / "project.json").write_text('{"sources": ["*.c"], "colour": "red"}')
    subs = {"measured": measured, "bad_json": bad_json, "not_measure": not_measure, "bad_project": bad_project}
    assert main([a.format(**subs) for a in argv]) == 2


def test_evaluate_margins_and_errors():
    m = {
        "schema": "noisebudget.measure/1",
        "cycles_per_hop_max": 800.0,
        "hops_measured": 3,
        "timing_table": "cortex-m4",
        "memory": {"flash_bytes": 1000, "ram_bytes": 500},
    }
    items = evaluate(
        m, Budget(cycles_per_hop=1000, cpu_load=0.01, flash_bytes=999, ram_bytes=500), clock_hz=80e6, hop_rate_hz=100
    )
    by = {i.name: i for i in items}
    assert by["cycles_per_hop"].margin == pytest.approx(0.2) and by["cycles_per_hop"].ok
    assert by["cpu_load"].measured == pytest.approx(800 * 100 / 80e6) and by["cpu_load"].ok
    assert not by["flash_bytes"].ok and by["ram_bytes"].ok  # equal to the limit is within
    assert exit_code(items) == 1
    with pytest.raises(UsageError):
        evaluate(m, Budget(flash_bytes=1))
    with pytest.raises(DataError):
        evaluate({**m, "cycles_per_hop_max": "lots"}, Budget(cycles_per_hop=1))
    xml = to_junit([CheckItem("a&b", 2, 1, "bytes", "<detail>")])
    assert ET.fromstring(xml).find(".//failure") is not None


def test_target_profiles():
    assert set(target_names()) >= {"cortex-m4", "cortex-m7", "cortex-m55"}
    boards = {"cortex-m4": "mps2-an386", "cortex-m7": "mps2-an500", "cortex-m55": "mps3-an547"}
    for name, board in boards.items():
        p = load_target(name)
        assert p.cpu == name and p.timing_table == name and p.qemu_board == board
        for key in ("clock_hz", "flash_bytes", "ram_bytes", "cycles_per_mac", "frontend_cycles_per_hop"):
            assert p.sources.get(key), f"{name}: no source for {key}"
        assert 0 < p.mac_budget(0.08) < p.cycles_budget(0.08)
    assert load_target("cortex-m4").clock_hz == 80_000_000
    with pytest.raises(UsageError):
        load_target("cortex-m0")
