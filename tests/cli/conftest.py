"""Shared helpers for the energymeter CLI tests.

The binary comes from $ENERGYMETER_BIN (default: build/energymeter under the
repository root). Every run gets ENERGYMETER_SYSFS_ROOT pointing at a fake
tree (or at an empty directory), so the tests never depend on the machine's
real /sys, and ENERGYMETER_NVML_LIB pointing at a library that does not
exist, so that gpu is unavailable even on a machine with a GPU.

Run:  ENERGYMETER_BIN=build/energymeter /usr/bin/python3 -m pytest tests/cli
(or `make pytest`). Fake trees and their writer: tests/fake/faketree.py
(`/usr/bin/python3 tests/fake/faketree.py selftest` checks the fake itself).
"""

import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "fake"))

from faketree import FakeTree  # noqa: E402

PYTHON = sys.executable or "/usr/bin/python3"
NO_NVML = "/nonexistent/energymeter-test/libnvidia-ml.so.1"
RUN_TIMEOUT = 60


def em_bin():
    path = os.environ.get("ENERGYMETER_BIN") or os.path.join(REPO, "build", "energymeter")
    return os.path.abspath(path)


@pytest.fixture(scope="session")
def binary():
    path = em_bin()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail("energymeter binary not found at %s (run `make`, or set ENERGYMETER_BIN)"
                    % path)
    return path


def em_env(root, extra=None):
    env = dict(os.environ)
    env.pop("ENERGYMETER_LOG", None)
    env["ENERGYMETER_SYSFS_ROOT"] = root
    env["ENERGYMETER_NVML_LIB"] = NO_NVML
    # Hermetic: a baseline stored on this machine must not change reports.
    env.setdefault("ENERGYMETER_BASELINE", "/nonexistent/energymeter-test/baseline.json")
    env.setdefault("LC_ALL", "C")
    if extra:
        env.update(extra)
    return env


@pytest.fixture
def empty_root():
    """An empty directory as the sysfs root: no powercap at all."""
    d = tempfile.mkdtemp(prefix="em-empty-")
    yield d
    subprocess.run(["rm", "-rf", d])


@pytest.fixture
def run_em(binary, empty_root):
    """run_em(args, root=None, **kw) -> CompletedProcess (text, captured)."""

    def run(args, root=None, env_extra=None, timeout=RUN_TIMEOUT, prefix=None, **kw):
        cmd = list(prefix or []) + [binary] + list(args)
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        kw.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.run(cmd, env=em_env(root or empty_root, env_extra), text=True,
                              timeout=timeout, **kw)

    return run


# ------------------------------------------------------------------ JSON

def _no_nan(name):
    raise ValueError("JSON contains %s (must be null or a number)" % name)


def parse_json(text):
    """json.loads that rejects NaN/Infinity: joules must be null, never NaN."""
    return json.loads(text, parse_constant=_no_nan)


def load_json(path):
    with open(path) as f:
        return parse_json(f.read())


def is_num(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
STATUSES = ("measured", "estimated", "unavailable")


def counted(comp):
    """Does this component count towards total_joules?"""
    return comp["status"] != "unavailable" and comp.get("in_total", True) is not False


def check_report(rep, command=None, exit_status=None):
    """Assert the energymeter/1 schema (DESIGN.md) and its invariants."""
    assert rep["schema"] == "energymeter/1"
    for key in ("label", "start_time", "end_time", "duration_s", "command", "exit_status",
                "include_idle", "components", "total_joules", "warnings"):
        assert key in rep, "report lacks %r: %s" % (key, sorted(rep))
    assert rep["label"] is None or isinstance(rep["label"], str)
    assert ISO_RE.match(rep["start_time"]), rep["start_time"]
    assert ISO_RE.match(rep["end_time"]), rep["end_time"]
    assert rep["end_time"] >= rep["start_time"]
    assert is_num(rep["duration_s"]) and rep["duration_s"] >= 0
    assert isinstance(rep["include_idle"], bool)
    assert isinstance(rep["command"], list) and all(isinstance(a, str) for a in rep["command"])
    if command is not None:
        assert rep["command"] == list(command)
    if exit_status is not None:
        assert rep["exit_status"] == exit_status
    assert isinstance(rep["warnings"], list)
    assert all(isinstance(w, str) and w for w in rep["warnings"])
    comps = rep["components"]
    assert isinstance(comps, dict)
    for name in ("cpu", "dram", "gpu", "disk"):
        assert name in comps, "component %s missing: %s" % (name, sorted(comps))
    for name, c in comps.items():
        st = c["status"]
        assert st in STATUSES, (name, st)
        if st == "unavailable":
            assert c["joules"] is None, (name, c)
            assert isinstance(c.get("reason"), str) and c["reason"].strip(), (name, c)
        else:
            assert is_num(c["joules"]), (name, c)
            assert c["joules"] >= 0, (name, c)
            assert isinstance(c.get("source"), str) and c["source"], (name, c)
        for flag in ("in_total", "degraded"):
            if flag in c:
                assert isinstance(c[flag], bool), (name, flag, c[flag])
        if "uncertainty_j" in c and st != "unavailable":
            assert is_num(c["uncertainty_j"]) and c["uncertainty_j"] >= 0, (name, c)
        if "devices" in c and st != "unavailable":
            devs = c["devices"]
            assert isinstance(devs, list) and devs, (name, c)
            for d in devs:
                assert isinstance(d["name"], str) and d["name"], (name, d)
                assert is_num(d["joules"]) and d["joules"] >= 0, (name, d)
            s = sum(d["joules"] for d in devs)
            assert abs(s - c["joules"]) <= 1e-3 + 1e-6 * abs(s), \
                "%s: devices sum to %r, component says %r" % (name, s, c["joules"])
    assert is_num(rep["total_joules"])
    want = sum(c["joules"] for c in comps.values() if counted(c))
    assert abs(rep["total_joules"] - want) <= 1e-3 + 1e-6 * want, \
        "total_joules %r != sum of counted components %r" % (rep["total_joules"], want)
    return rep


def devices(comp):
    return {d["name"]: d["joules"] for d in comp.get("devices", [])}


def assert_close(got, truth, rel=0.01, what="", abs_j=0.0):
    """|got - truth| <= rel * truth + abs_j. abs_j covers the writer's
    staleness on short runs: counters lag the truth by up to one writer
    period (5 ms) plus scheduling delay, so a reading is off by up to
    P * ~10 ms whatever the run's length."""
    assert got is not None, "%s: joules is null, expected ~%.3f J" % (what, truth)
    assert abs(got - truth) <= rel * truth + abs_j, \
        "%s: %.4f J, truth %.4f J (off by %.2f%%, allowed %.1f%% + %.3f J)" % (
            what, got, truth, 100 * abs(got - truth) / truth, 100 * rel, abs_j)


# ------------------------------------------------------------ fake trees

@pytest.fixture
def fake_tree():
    """fake_tree(layout, **build_kw) -> FakeTree in a fresh temp dir."""
    made = []

    def make(layout="intel1", **kw):
        d = tempfile.mkdtemp(prefix="em-fake-")
        made.append(d)
        return FakeTree.build(os.path.join(d, "root"), layout, **kw)

    yield make
    for d in made:
        subprocess.run(["rm", "-rf", d])


def measure(binary, tree, args, cmd, outdir, faults=None, timeout=RUN_TIMEOUT,
            env_extra=None):
    """Run `energymeter stat ARGS -o OUT -- CMD` on tree while its writer runs.

    faults(writer, t_launch) may schedule counter faults. Returns
    (CompletedProcess, report text, wall seconds around the run).
    """
    out = os.path.join(outdir, "report.out")
    argv = [binary, "stat"] + list(args) + ["-o", out, "--"] + list(cmd)
    with tree.writer() as w:
        t0 = time.monotonic()
        if faults:
            faults(w, t0)
        p = subprocess.run(argv, env=em_env(tree.root, env_extra), text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, timeout=timeout)
        wall = time.monotonic() - t0
        assert w.alive(), "faketree writer died during the run"
    text = open(out).read() if os.path.exists(out) else None
    return p, text, wall
