"""Edge cases of the powercap source seen through the CLI: the MMIO duplicate
of package-0, zones without constraint files (1000 W default bound), a frozen
counter, malformed counter files, and the remaining stat options."""

import pytest

from conftest import assert_close, check_report, devices, load_json, measure, parse_json


def test_mmio_duplicate_not_double_counted(binary, fake_tree, tmp_path):
    tree = fake_tree("intel1mmio", range_uj=10_000_000)
    p, text, wall = measure(binary, tree, ["--json"], ["sleep", "1"], str(tmp_path))
    assert p.returncode == 0, p.stderr
    rep = check_report(parse_json(text))
    dur = rep["duration_s"]
    cpu = rep["components"]["cpu"]
    assert devices(cpu).keys() == {"package-0"}, cpu
    assert_close(cpu["joules"], 20.0 * dur, what="cpu (intel-rapl-mmio:0 is the same package)",
                 abs_j=0.2)
    assert_close(rep["total_joules"], 25.0 * dur, what="total", abs_j=0.25)


def test_no_constraint_files(binary, fake_tree, tmp_path):
    """No constraint_*_max_power_uw: the tool must fall back to a conservative
    bound (1000 W) and still follow the counters through their wraps. At
    1000 W (and the meter's margin) a 300 J counter may wrap every 0.2 s, so
    the sampler reads every 50 ms; server-like packages of 500 and 450 W wrap
    it 3 times in the 2 s run. (With a 30 J range the sampler had to read
    every 7.5 ms, and a 108 ms stall under ASan on a busy VM rightly made it
    warn that wraps may have been missed.)"""
    powers = {"intel-rapl:0": 500.0, "intel-rapl:1": 450.0,
              "intel-rapl:0:0": 30.0, "intel-rapl:1:0": 20.0}
    tree = fake_tree("intel2", range_uj=300_000_000, with_constraints=False, powers=powers)
    p, text, wall = measure(binary, tree, ["--json"], ["sleep", "2"], str(tmp_path))
    assert p.returncode == 0, p.stderr
    rep = check_report(parse_json(text))
    dur = rep["duration_s"]
    assert rep["warnings"] == [], rep["warnings"]
    cpu, dram = rep["components"]["cpu"], rep["components"]["dram"]
    assert cpu["status"] == "measured" and dram["status"] == "measured", (cpu, dram)
    assert 500.0 * dur / 300.0 >= 3, dur  # package-0 wrapped at least 3 times
    assert_close(cpu["joules"], 950.0 * dur, what="cpu", abs_j=9.5)
    assert_close(dram["joules"], 50.0 * dur, what="dram", abs_j=0.5)


def test_real_ranges_no_wrap(binary, fake_tree, tmp_path):
    """The ranges real Intel packages state (262 kJ): no wrap, exact."""
    tree = fake_tree("intel1", range_uj=262143328850)
    p, text, wall = measure(binary, tree, ["--json"], ["sleep", "1"], str(tmp_path))
    assert p.returncode == 0, p.stderr
    rep = check_report(parse_json(text))
    dur = rep["duration_s"]
    assert_close(rep["components"]["cpu"]["joules"], 20.0 * dur, what="cpu", abs_j=0.2)
    assert_close(rep["components"]["dram"]["joules"], 5.0 * dur, what="dram", abs_j=0.05)


def test_frozen_counter_is_not_a_silent_zero(run_em, fake_tree, tmp_path):
    """No writer: every counter stays put for a whole second. A RAPL package
    counter updates every ~1 ms on real hardware, so this is a frozen sensor,
    not a package that drew 0 W. DESIGN: "detection of a counter that ...
    stays frozen while power should flow"; "never a crash or a silent zero"."""
    tree = fake_tree("amd", range_uj=10_000_000)
    out = tmp_path / "r.json"
    p = run_em(["stat", "--json", "-o", str(out), "--", "sleep", "1"], root=tree.root)
    assert p.returncode == 0, p.stderr
    rep = check_report(load_json(out))
    cpu = rep["components"]["cpu"]
    silent_zero = cpu["status"] == "measured" and cpu["joules"] == 0 and not rep["warnings"]
    assert not silent_zero, "frozen package counter reported as a clean 0 J: %s" % cpu


@pytest.mark.parametrize("content", ["garbage\n", "", "-5\n", "99999999999999999999999999\n"],
                         ids=["text", "empty", "negative", "huge"])
def test_malformed_energy_file(run_em, fake_tree, tmp_path, content):
    tree = fake_tree("amd", range_uj=10_000_000)
    for z in tree.zone_ids():
        with open(tree.energy_path(z), "w") as f:
            f.write(content)
    out = tmp_path / "r.json"
    p = run_em(["stat", "--json", "-o", str(out), "--", "true"], root=tree.root)
    assert p.returncode == 0, p.stderr
    rep = check_report(load_json(out))
    cpu = rep["components"]["cpu"]
    assert cpu["status"] == "unavailable", cpu
    assert "energy_uj" in cpu["reason"], cpu
    p = run_em(["list", "--json"], root=tree.root)
    assert p.returncode == 0, p.stderr
    parse_json(p.stdout)


def test_stat_options(binary, fake_tree, tmp_path):
    tree = fake_tree("intel1", range_uj=10_000_000)
    p, text, wall = measure(binary, tree,
                            ["--json", "--interval", "50", "--include-idle", "--label", "x y",
                             "--disk-avg-speed", "1600e6", "--disk-active-power", "6",
                             "--disk-idle-power", "1.42"],
                            ["sleep", "0.5"], str(tmp_path))
    assert p.returncode == 0, p.stderr
    rep = check_report(parse_json(text), command=["sleep", "0.5"], exit_status=0)
    assert rep["include_idle"] is True
    assert rep["label"] == "x y"
    assert_close(rep["components"]["cpu"]["joules"], 20.0 * rep["duration_s"], what="cpu",
                 abs_j=0.2)
