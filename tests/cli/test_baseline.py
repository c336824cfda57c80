"""Idle baseline: `energymeter calibrate` stores idle power per component and
device; `stat` then reports idle_joules and dynamic_joules with
idle + dynamic = joules. The fake counters run at constant powers, so the
idle power measured equals the writer's, and dynamic energy is ~0."""

import json
import os
import subprocess

from conftest import assert_close, check_report, em_env, measure, parse_json

RANGE_UJ = 10_000_000


def calibrate(binary, tree, path, seconds="0.6"):
    with tree.writer():
        p = subprocess.run([binary, "calibrate", "--duration", seconds, "--baseline-file", path],
                           env=em_env(tree.root), capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert path in p.stderr
    return json.load(open(path))


def check_split(comp, duration, watts):
    assert_close(comp["idle_joules"], watts * duration, rel=0.02, what="idle", abs_j=0.05)
    assert abs(comp["idle_joules"] + comp["dynamic_joules"] - comp["joules"]) < 1e-5, comp
    assert abs(comp["dynamic_joules"]) <= 0.03 * comp["joules"] + 0.05, comp


def test_calibrate_then_stat(binary, fake_tree, tmp_path):
    tree = fake_tree("intel2", range_uj=RANGE_UJ)
    path = str(tmp_path / "state" / "baseline.json")  # parent made by calibrate
    base = calibrate(binary, tree, path)
    assert base["schema"] == "energymeter-baseline/1"
    cpu = base["components"]["cpu"]
    assert abs(cpu["devices"]["package-0"] - 20.0) < 0.4, cpu
    assert abs(cpu["devices"]["package-1"] - 15.0) < 0.3, cpu
    assert abs(cpu["watts"] - 35.0) < 0.6, cpu
    assert "gpu" not in base["components"] and "disk" not in base["components"]

    p, text, _ = measure(binary, tree, ["--json", "--baseline-file", path], ["sleep", "1"],
                         str(tmp_path))
    assert p.returncode == 0, p.stderr
    rep = check_report(parse_json(text))
    d = rep["duration_s"]
    check_split(rep["components"]["cpu"], d, 35.0)
    check_split(rep["components"]["dram"], d, 9.0)
    for dev in rep["components"]["cpu"]["devices"]:
        assert abs(dev["idle_joules"] + dev["dynamic_joules"] - dev["joules"]) < 1e-5, dev


def test_default_path_from_environment(binary, fake_tree, tmp_path):
    tree = fake_tree("intel1", range_uj=RANGE_UJ)
    path = str(tmp_path / "default.json")
    env_extra = {"ENERGYMETER_BASELINE": path}
    with tree.writer():
        p = subprocess.run([binary, "calibrate", "-d", "0.5"], env=em_env(tree.root, env_extra),
                           capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr and os.path.exists(path)
    p, text, _ = measure(binary, tree, ["--json"], ["sleep", "0.5"], str(tmp_path),
                         env_extra=env_extra)
    rep = parse_json(text)
    assert "idle_joules" in rep["components"]["cpu"], rep["components"]["cpu"]
    p, text, _ = measure(binary, tree, ["--json", "--no-baseline"], ["sleep", "0.3"],
                         str(tmp_path), env_extra=env_extra)
    assert "idle_joules" not in parse_json(text)["components"]["cpu"]


def test_baseline_measured_before_command(binary, fake_tree, tmp_path):
    tree = fake_tree("intel1", range_uj=RANGE_UJ)
    p, text, wall = measure(binary, tree, ["--json", "--baseline", "0.5"], ["sleep", "0.5"],
                            str(tmp_path))
    assert p.returncode == 0, p.stderr
    assert wall >= 0.95  # the idle window came first
    rep = check_report(parse_json(text))
    assert rep["duration_s"] < 0.8  # the report is the command's window only
    check_split(rep["components"]["cpu"], rep["duration_s"], 20.0)
    assert "idle_joules" not in rep["components"]["gpu"]  # unavailable: no split


def test_bad_baseline_files(binary, tmp_path, empty_root):
    missing = str(tmp_path / "none.json")
    p = subprocess.run([binary, "stat", "--baseline-file", missing, "--", "true"],
                       env=em_env(empty_root), capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "calibrate" in p.stderr, p.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "something-else"}')
    p = subprocess.run([binary, "stat", "--baseline-file", str(bad), "--", "true"],
                       env=em_env(empty_root), capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "not an energymeter baseline" in p.stderr, p.stderr
    p = subprocess.run([binary, "stat", "--baseline", "1", "--no-baseline", "--", "true"],
                       env=em_env(empty_root), capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, p.stderr
