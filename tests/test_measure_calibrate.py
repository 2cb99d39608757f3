"""`noisebudget calibrate` from a synthetic board log, and measure applying the stored factor."""

from __future__ import annotations

import json

import pytest

from noisebudget.cli import main
from tests.test_check import MODEL_C


def test_calibrate_roundtrip(tmp_path, monkeypatch):
    monkeypatch.setenv("NOISEBUDGET_CONFIG_DIR", str(tmp_path / "cfg"))
    proj = tmp_path / "fw"
    (proj / "src").mkdir(parents=True)
    (proj / "src" / "model.c").write_text(MODEL_C)
    (proj / "project.json").write_text(json.dumps({"target": "cortex-m4", "sources": ["src/*.c"]}))
    assert main(["measure", str(proj), "--out", str(tmp_path / "m0.json")]) == 0
    m0 = json.loads((tmp_path / "m0.json").read_text())
    assert m0["calibration_factor"] == 1.0
    est = m0["cycles_per_hop_mean"]
    # a board that needs 1.25x the estimate; hop 0 is warm-up and must be ignored
    log = tmp_path / "board.log"
    lines = ["boot", f"NB_CYCLES hop=0 cycles={int(est * 9)}"]
    lines += [f"NB_CYCLES hop={h} cycles={round(est * 1.25)}" for h in range(1, 5)]
    log.write_text("\n".join(lines) + "\n")
    assert (
        main(["calibrate", "--target", "cortex-m4", "--cycles-log", str(log), "--measure", str(tmp_path / "m0.json")])
        == 0
    )
    cal = json.loads((tmp_path / "cfg" / "calibration.json").read_text())
    assert cal["cortex-m4"]["factor"] == pytest.approx(1.25, rel=1e-3)
    assert main(["measure", str(proj), "--out", str(tmp_path / "m1.json")]) == 0
    m1 = json.loads((tmp_path / "m1.json").read_text())
    assert m1["calibration_factor"] == pytest.approx(1.25, rel=1e-3)
    assert m1["cycles_per_hop_mean"] == pytest.approx(1.25 * est, rel=1e-3)
    assert m1["hop_insns"] == m0["hop_insns"]  # calibration never touches the counts
    assert main(["measure", str(proj), "--no-calibration", "--out", str(tmp_path / "m2.json")]) == 0
    assert json.loads((tmp_path / "m2.json").read_text())["cycles_per_hop_mean"] == pytest.approx(est)


def test_calibrate_rejects_qemu_zero_log(tmp_path, monkeypatch):
    monkeypatch.setenv("NOISEBUDGET_CONFIG_DIR", str(tmp_path / "cfg"))
    m = tmp_path / "m.json"
    m.write_text(json.dumps({"schema": "noisebudget.measure/1", "cycles_per_hop_mean": 100.0, "warmup_hops": 1}))
    log = tmp_path / "qemu.log"
    log.write_text("NB_CYCLES hop=0 cycles=0\nNB_CYCLES hop=1 cycles=0\n")
    assert main(["calibrate", "--target", "cortex-m4", "--cycles-log", str(log), "--measure", str(m)]) == 2
    log.write_text("nothing here\n")
    assert main(["calibrate", "--target", "cortex-m4", "--cycles-log", str(log), "--measure", str(m)]) == 2
    assert not (tmp_path / "cfg" / "calibration.json").exists()
