"""The model source: estimates for cpu (CPU time and a power model) and dram
(memory in use) where no sensor exists, labelled with their parameters, and
off with --no-estimates. Fake trees hold /proc/cpuinfo and /proc/meminfo."""

import json
import os
import subprocess
import sys
import tempfile

import pytest

from conftest import check_report, em_env

BUSY = [sys.executable, "-c",
        "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.8: pass"]


def fake_proc(model="AMD EPYC 7763 64-Core Processor", ncpus=4, sockets=1,
              total_kb=16 * 1024 * 1024, avail_kb=8 * 1024 * 1024):
    root = tempfile.mkdtemp(prefix="em-model-")
    os.makedirs(os.path.join(root, "proc"))
    with open(os.path.join(root, "proc", "cpuinfo"), "w") as f:
        for i in range(ncpus):
            f.write("processor\t: %d\nvendor_id\t: AuthenticAMD\nmodel name\t: %s\n"
                    "physical id\t: %d\n\n" % (i, model, i % sockets))
    with open(os.path.join(root, "proc", "meminfo"), "w") as f:
        f.write("MemTotal:       %d kB\nMemFree:        1000 kB\nMemAvailable:   %d kB\n"
                % (total_kb, avail_kb))
    return root


def stat(binary, root, args, cmd=BUSY):
    p = subprocess.run([binary, "stat", "--json", "-o", "/dev/stdout"] + args + ["--"] + cmd,
                       env=em_env(root), capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return check_report(json.loads(p.stdout))


def test_table_model(binary):
    rep = stat(binary, fake_proc(), [])
    cpu, dram = rep["components"]["cpu"], rep["components"]["dram"]
    t = rep["duration_s"]
    assert cpu["status"] == "estimated" and cpu["source"] == "model", cpu
    assert cpu["tdp_w"] == 280 and abs(cpu["idle_w"] - 84) < 1e-6 and cpu["ncpus"] == 4, cpu
    assert "EPYC 7763" in cpu["model_basis"], cpu
    # The child burnt ~0.8 s of CPU, which the estimate must include.
    assert 0.75 <= cpu["cpu_time_s"] <= 1.5, cpu
    want = 84 * t + (280 - 84) * cpu["cpu_time_s"] / 4
    assert abs(cpu["joules"] - want) <= 1e-5 * want + 2e-6, (cpu, want)
    assert abs(cpu["uncertainty_j"] - 0.5 * cpu["joules"]) < 1e-5
    assert dram["status"] == "estimated" and dram["source"] == "model"
    assert abs(dram["gib_in_use"] - 8.0) < 1e-6
    assert abs(dram["joules"] - 0.375 * 8.0 * t) < 1e-5
    assert abs(rep["total_joules"] - cpu["joules"] - dram["joules"]) < 1e-5


def test_given_parameters_and_sockets(binary):
    rep = stat(binary, fake_proc(model="Unknown CPU 9000", ncpus=8, sockets=2),
               ["--cpu-tdp", "100", "--cpu-idle", "20"])
    cpu = rep["components"]["cpu"]
    assert cpu["tdp_w"] == 100 and cpu["idle_w"] == 20 and cpu["ncpus"] == 8, cpu
    want = 20 * rep["duration_s"] + 80 * cpu["cpu_time_s"] / 8
    assert abs(cpu["joules"] - want) <= 1e-5 * want + 2e-6


def test_table_counts_sockets(binary):
    rep = stat(binary, fake_proc(model="Intel(R) Xeon(R) Gold 6248 CPU", ncpus=4, sockets=2),
               [], cmd=["true"])
    assert rep["components"]["cpu"]["tdp_w"] == 300  # 150 W x 2 sockets


def test_unknown_cpu_unavailable(binary):
    rep = stat(binary, fake_proc(model="Mystery CPU"), [], cmd=["true"])
    cpu = rep["components"]["cpu"]
    assert cpu["status"] == "unavailable"
    assert "Mystery CPU" in cpu["reason"] and "--cpu-tdp" in cpu["reason"], cpu


def test_no_estimates(binary):
    rep = stat(binary, fake_proc(), ["--no-estimates"], cmd=["true"])
    for name in ("cpu", "dram"):
        comp = rep["components"][name]
        assert comp["status"] == "unavailable", comp
        assert "--no-estimates" in comp["reason"], comp
    assert rep["total_joules"] == 0


@pytest.mark.parametrize("args", [["--cpu-idle", "10"], ["--cpu-tdp", "0"],
                                  ["--cpu-tdp", "50", "--cpu-idle", "60"], ["--cpu-tdp", "x"]])
def test_bad_model_options(binary, args):
    p = subprocess.run([binary, "stat"] + args + ["--", "true"], env=em_env(fake_proc()),
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, p.stderr
    assert p.stderr.startswith("energymeter:") and len(p.stderr.strip().splitlines()) == 1
