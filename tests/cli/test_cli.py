"""energymeter CLI: usage, and `stat` on fake RAPL trees at known powers.

The fake trees' counters are moved by the faketree writer at constant powers
with max_energy_range_uj = 10 J, so over a 2 s run every counter at >= 5 W
wraps at least once and package-0 (20 W) wraps four times: a tool that
mishandles wraps is off by tens of joules, far outside the 1 % tolerance.
"""

import csv
import io
import os
import subprocess
import tempfile

import pytest

from conftest import (FakeTree, assert_close, check_report, devices, em_env, load_json,
                      measure, parse_json)

RANGE_UJ = 10_000_000  # 10 J: wraps every 0.5 s at 20 W
# psys (30 W, intel1) gets 30 J: at its maximum power and the meter's margin
# a 10 J psys counter may wrap every 0.11 s, so a stall of ~85 ms on a busy
# VM (seen: 108 ms under ASan) would rightly make the meter warn; with 30 J
# the sampler has ~0.25 s to spare, like the packages' ~0.12 s and more.
RANGES = {"intel-rapl:0": RANGE_UJ, "intel-rapl:0:0": RANGE_UJ, "intel-rapl:0:1": RANGE_UJ,
          "intel-rapl:0:2": RANGE_UJ, "intel-rapl:1": 30_000_000, "intel-rapl:1:0": RANGE_UJ,
          "intel-rapl:1:1": RANGE_UJ}


def one_line_error(p):
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, "expected one line on stderr, got %d:\n%s" % (len(lines), p.stderr)
    assert lines[0].startswith("energymeter:"), lines[0]


# ------------------------------------------------------------------ usage

def test_version(run_em):
    p = run_em(["--version"])
    assert p.returncode == 0, p.stderr
    # The one version: the public header's EM_VERSION_* (what setup.py reads).
    import re
    hdr = open(os.path.join(os.path.dirname(__file__), "..", "..", "include", "energymeter",
                            "energymeter.h")).read()
    ver = ".".join(re.search(r"^#define EM_VERSION_%s (\d+)$" % k, hdr, re.M).group(1)
                   for k in ("MAJOR", "MINOR", "PATCH"))
    assert "energymeter %s" % ver in p.stdout


def test_help(run_em):
    p = run_em(["--help"])
    assert p.returncode == 0, p.stderr
    for word in ("stat", "list"):
        assert word in p.stdout, "--help does not mention %r:\n%s" % (word, p.stdout)


def test_stat_help(run_em):
    p = run_em(["stat", "--help"])
    assert p.returncode == 0, p.stderr
    for opt in ("--json", "--csv", "-o"):
        assert opt in p.stdout, "stat --help does not mention %r:\n%s" % (opt, p.stdout)


def test_list_help(run_em):
    p = run_em(["list", "--help"])
    assert p.returncode == 0, p.stderr
    assert "--json" in p.stdout, p.stdout


@pytest.mark.parametrize("args", [
    ["frobnicate"],                              # unknown subcommand
    ["--no-such-option"],                        # unknown global option
    ["stat", "--no-such-option", "--", "true"],  # unknown stat option
    ["stat"],                                    # no command
    ["stat", "--"],                              # no command after --
    ["stat", "--json"],                          # options but no command
    ["stat", "--interval", "abc", "--", "true"],  # malformed number
    ["stat", "-o"],                              # missing option argument
    ["list", "--no-such-option"],
], ids=lambda a: " ".join(a) or "none")
def test_bad_usage(run_em, args):
    p = run_em(args)
    assert p.returncode == 2, "exit %d for %s\nstderr: %s" % (p.returncode, args, p.stderr)
    one_line_error(p)


def test_bad_usage_runs_nothing(run_em, tmp_path):
    marker = tmp_path / "ran"
    p = run_em(["stat", "--interval", "abc", "--", "touch", str(marker)])
    assert p.returncode == 2
    assert not marker.exists(), "the command ran despite bad usage"


# ------------------------------------------------------- stat --json, trees

def _run_layout(binary, layout, tmpdir, extra_args=()):
    ranges = RANGES if layout == "intel1" else RANGE_UJ
    tree = FakeTree.build(os.path.join(tmpdir, "root"), layout, range_uj=ranges)
    p, text, wall = measure(binary, tree, ["--json"] + list(extra_args), ["sleep", "2"], tmpdir)
    assert p.returncode == 0, "exit %d, stderr:\n%s" % (p.returncode, p.stderr)
    assert text is not None, "no report written to -o FILE; stderr:\n%s" % p.stderr
    rep = parse_json(text)
    return tree, rep, p, wall


@pytest.fixture(scope="module")
def intel1(binary):
    d = tempfile.mkdtemp(prefix="em-intel1-")
    try:
        yield _run_layout(binary, "intel1", d, ["--label", "Test Meter"])
    finally:
        subprocess.run(["rm", "-rf", d])


@pytest.fixture(scope="module")
def intel2(binary):
    d = tempfile.mkdtemp(prefix="em-intel2-")
    try:
        yield _run_layout(binary, "intel2", d)
    finally:
        subprocess.run(["rm", "-rf", d])


@pytest.fixture(scope="module")
def amd(binary):
    d = tempfile.mkdtemp(prefix="em-amd-")
    try:
        yield _run_layout(binary, "amd", d)
    finally:
        subprocess.run(["rm", "-rf", d])


def _common(tree, rep, wall):
    check_report(rep, command=["sleep", "2"], exit_status=0)
    dur = rep["duration_s"]
    assert 2.0 <= dur <= wall + 0.01, "duration_s %r (sleep 2, wall %.3f)" % (dur, wall)
    assert rep["include_idle"] is False
    for name in ("gpu", "disk"):  # no sources for them yet (and NVML points nowhere)
        c = rep["components"][name]
        assert c["status"] == "unavailable", (name, c)
        assert c["reason"].strip()
    return dur


def _measured(c, name):
    assert c["status"] == "measured", "%s: %s" % (name, c)
    assert c["source"] == "rapl-powercap", (name, c)
    assert c.get("degraded", False) is False, (name, c)
    assert "uncertainty_j" in c, (name, c)


def test_intel1_schema(intel1):
    tree, rep, p, wall = intel1
    _common(tree, rep, wall)
    assert rep["label"] == "Test Meter"
    assert rep["warnings"] == [], "warnings on a clean run: %s" % rep["warnings"]


def test_intel1_cpu_dram(intel1):
    tree, rep, p, wall = intel1
    dur = _common(tree, rep, wall)
    cpu, dram = rep["components"]["cpu"], rep["components"]["dram"]
    _measured(cpu, "cpu")
    _measured(dram, "dram")
    # cpu is the package only: core and uncore are inside it (no double counting).
    assert_close(cpu["joules"], 20.0 * dur, what="cpu")
    assert_close(dram["joules"], 5.0 * dur, what="dram")
    assert devices(cpu).keys() == {"package-0"}, cpu
    assert devices(dram).keys() == {"package-0"}, dram
    assert_close(devices(cpu)["package-0"], 20.0 * dur, what="cpu package-0")
    assert_close(devices(dram)["package-0"], 5.0 * dur, what="dram package-0")
    # Uncertainty: honest, but not absurd for an exact counter read.
    assert cpu["uncertainty_j"] <= 0.01 * cpu["joules"], cpu


def test_intel1_extras_not_in_total(intel1):
    tree, rep, p, wall = intel1
    dur = _common(tree, rep, wall)
    comps = rep["components"]
    for name, watts in (("psys", 30.0), ("cpu-core", 10.0), ("cpu-uncore", 2.0)):
        assert name in comps, "extra component %s missing: %s" % (name, sorted(comps))
        c = comps[name]
        assert c.get("in_total") is False, (name, c)
        _measured(c, name)
        assert_close(c["joules"], watts * dur, what=name)
    total = rep["total_joules"]
    assert_close(total, 25.0 * dur, what="total_joules (cpu + dram, psys/core excluded)")
    assert abs(total - (comps["cpu"]["joules"] + comps["dram"]["joules"])) < 1e-3


def test_intel2(intel2):
    tree, rep, p, wall = intel2
    dur = _common(tree, rep, wall)
    assert rep["warnings"] == [], rep["warnings"]
    cpu, dram = rep["components"]["cpu"], rep["components"]["dram"]
    _measured(cpu, "cpu")
    _measured(dram, "dram")
    assert devices(cpu).keys() == {"package-0", "package-1"}, cpu
    assert devices(dram).keys() == {"package-0", "package-1"}, dram
    assert_close(devices(cpu)["package-0"], 20.0 * dur, what="cpu package-0")
    assert_close(devices(cpu)["package-1"], 15.0 * dur, what="cpu package-1")
    assert_close(devices(dram)["package-0"], 5.0 * dur, what="dram package-0")
    assert_close(devices(dram)["package-1"], 4.0 * dur, what="dram package-1")
    assert_close(cpu["joules"], 35.0 * dur, what="cpu")
    assert_close(dram["joules"], 9.0 * dur, what="dram")
    assert_close(rep["total_joules"], 44.0 * dur, what="total_joules")
    extras = set(rep["components"]) - {"cpu", "dram", "gpu", "disk"}
    assert not extras, "no extra zones in this tree, got %s" % extras


def test_amd(amd):
    tree, rep, p, wall = amd
    dur = _common(tree, rep, wall)
    assert rep["warnings"] == [], rep["warnings"]
    comps = rep["components"]
    cpu, dram = comps["cpu"], comps["dram"]
    _measured(cpu, "cpu")
    assert devices(cpu).keys() == {"package-0"}, cpu
    assert_close(cpu["joules"], 20.0 * dur, what="cpu (package only, core not added)")
    assert dram["status"] == "unavailable" and dram["joules"] is None, dram
    assert dram["reason"].strip()
    core = comps.get("cpu-core")
    assert core is not None, "core zone not reported as extra cpu-core: %s" % sorted(comps)
    assert core.get("in_total") is False, core
    assert_close(core["joules"], 12.0 * dur, what="cpu-core")
    assert_close(rep["total_joules"], 20.0 * dur, what="total_joules (cpu only)")


# ------------------------------------------------------ other formats, -o

def test_csv(binary, fake_tree, tmp_path):
    tree = fake_tree("intel2", range_uj=RANGE_UJ)
    p, text, wall = measure(binary, tree, ["--csv"], ["sleep", "0.5"], str(tmp_path))
    assert p.returncode == 0, p.stderr
    assert text, "no CSV written; stderr:\n%s" % p.stderr
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows, text
    for col in ("component", "device", "joules"):
        assert col in rows[0], "CSV header lacks %r: %s" % (col, list(rows[0]))
    by = {(r["component"], r["device"]): r for r in rows}
    for comp, dev, watts in (("cpu", "package-0", 20.0), ("cpu", "package-1", 15.0),
                             ("dram", "package-0", 5.0), ("dram", "package-1", 4.0)):
        assert (comp, dev) in by, "no CSV row for %s %s:\n%s" % (comp, dev, text)
        j = float(by[(comp, dev)]["joules"])
        assert watts * 0.5 * 0.99 <= j <= watts * wall * 1.01, \
            "%s %s: %.3f J, expected %.2f..%.2f" % (comp, dev, j, watts * 0.5, watts * wall)
    comps = {r["component"] for r in rows}
    assert {"cpu", "dram", "gpu", "disk"} <= comps, comps


def test_text_report_to_stderr(binary, fake_tree, tmp_path):
    tree = fake_tree("intel1", range_uj=RANGE_UJ)
    with tree.writer():
        p = subprocess.run([binary, "stat", "--", "sh", "-c", "sleep 0.3; echo child-out"],
                           env=em_env(tree.root), text=True, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "child-out\n", "stdout must be the child's alone: %r" % p.stdout
    err = p.stderr.lower()
    for word in ("cpu", "dram", "joules", "package-0", "rapl-powercap", "total"):
        assert word in err, "human report lacks %r:\n%s" % (word, p.stderr)
    assert "unavailable" in err, "gpu/disk should show as unavailable:\n%s" % p.stderr


def test_output_file_text(binary, fake_tree, tmp_path):
    tree = fake_tree("intel1", range_uj=RANGE_UJ)
    p, text, wall = measure(binary, tree, [], ["true"], str(tmp_path))
    assert p.returncode == 0, p.stderr
    assert text and "cpu" in text.lower() and "joules" in text.lower(), text
    assert "joules" not in p.stderr.lower(), "report went to stderr despite -o:\n" + p.stderr


def test_output_file_json_stdout_clean(binary, fake_tree, tmp_path):
    tree = fake_tree("amd", range_uj=RANGE_UJ)
    p, text, wall = measure(binary, tree, ["--json"], ["true"], str(tmp_path))
    assert p.returncode == 0, p.stderr
    assert p.stdout == "", p.stdout
    check_report(parse_json(text), command=["true"], exit_status=0)


# ------------------------------------------------------------ no powercap

@pytest.mark.parametrize("layout", ["none", "empty-class"])
def test_no_powercap(run_em, fake_tree, empty_root, tmp_path, layout):
    root = empty_root if layout == "none" else fake_tree("empty").root
    out = tmp_path / "r.json"
    p = run_em(["stat", "--json", "-o", str(out), "--", "sh", "-c", "exit 0"], root=root)
    assert p.returncode == 0, p.stderr
    rep = check_report(load_json(out), command=["sh", "-c", "exit 0"], exit_status=0)
    for name in ("cpu", "dram", "gpu", "disk"):
        c = rep["components"][name]
        assert c["status"] == "unavailable" and c["joules"] is None, (name, c)
        assert len(c["reason"].strip()) > 5, (name, c)
    assert rep["total_joules"] == 0
    # Human report: still a report, not an error.
    p = run_em(["stat", "--", "true"], root=root)
    assert p.returncode == 0, p.stderr
    assert "unavailable" in p.stderr.lower() and "cpu" in p.stderr.lower(), p.stderr
