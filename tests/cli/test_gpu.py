"""GPU energy through NVML, against the fake libnvidia-ml.so.

The fake (tests/fake_nvml/fake_nvml.c, built by `make` into
$ENERGYMETER_BUILD/tests/) reads FAKE_NVML_CONFIG: its energy counter steps
every 100 ms at the configured power, so the truth of a run is power x
duration_s. Other tests point ENERGYMETER_NVML_LIB nowhere; these point it
at the fake.
"""

import os
import tempfile

import pytest

from conftest import REPO, check_report, parse_json

BUILD = os.environ.get("ENERGYMETER_BUILD") or os.path.join(REPO, "build")


def fake_lib(variant=""):
    path = os.path.join(BUILD, "tests", "libnvidia-ml-fake%s.so" % variant)
    if not os.path.exists(path):
        pytest.fail("fake NVML not built at %s (run `make pytest`, or set ENERGYMETER_BUILD)"
                    % path)
    return path


@pytest.fixture
def gpu(run_em, tmp_path):
    """gpu(config_text, args, cmd, variant="", root=None) -> (report, proc)."""

    def run(config, args=(), cmd=("sleep", "0.5"), variant="", root=None, fmt="--json"):
        cfg = tmp_path / "fake.conf"
        cfg.write_text(config)
        out = tmp_path / "report.out"
        env = {"ENERGYMETER_NVML_LIB": fake_lib(variant), "FAKE_NVML_CONFIG": str(cfg)}
        p = run_em(["stat", fmt, "--ignore-disk", "-o", str(out)] + list(args) + ["--"]
                   + list(cmd), root=root, env_extra=env)
        assert p.returncode == 0, p.stderr
        text = out.read_text()
        if fmt != "--json":
            return text, p
        rep = parse_json(text)
        check_report(rep, command=list(cmd), exit_status=0)
        return rep, p

    return run


def close_to(got, truth, u, rel, what):
    """Within the reported uncertainty and within rel of the truth."""
    err = abs(got - truth)
    assert err <= u + 0.002 * truth + 0.01, \
        "%s: %.4f J, truth %.4f J: off by %.4f J, beyond uncertainty_j %.4f" % (
            what, got, truth, err, u)
    assert err <= rel * truth + 0.01, \
        "%s: %.4f J, truth %.4f J: off by %.2f%% (allowed %.0f%%)" % (
            what, got, truth, 100 * err / truth, 100 * rel)


def test_two_gpus_joules(gpu):
    rep, _ = gpu("count=2\npower_w=200\npower_w.1=50\n", cmd=("sleep", "1"))
    g = rep["components"]["gpu"]
    assert g["status"] == "measured" and g["source"] == "nvml", g
    dur = rep["duration_s"]
    devs = {d["name"]: d for d in g["devices"]}
    assert sorted(devs) == ["gpu0", "gpu1"]
    close_to(devs["gpu0"]["joules"], 200 * dur, g["uncertainty_j"], 0.02, "gpu0")
    close_to(devs["gpu1"]["joules"], 50 * dur, g["uncertainty_j"], 0.02, "gpu1")
    close_to(g["joules"], 250 * dur, g["uncertainty_j"], 0.02, "gpu")
    assert devs["gpu1"]["index"] == 1
    assert devs["gpu1"]["model"] == "Fake GPU"
    assert devs["gpu1"]["uuid"].startswith("GPU-")
    assert devs["gpu1"]["method"] == "energy-counter"
    # gpu counts towards the total.
    assert rep["total_joules"] >= g["joules"] - 1e-6


@pytest.mark.parametrize("seconds", ["0.1", "0.2", "0.3"])
@pytest.mark.parametrize("settle", [None, "200"])
def test_short_windows(gpu, seconds, settle):
    args = ["--gpu-settle", settle] if settle else []
    rep, _ = gpu("count=1\npower_w=300\n", args=args, cmd=("sleep", seconds))
    g = rep["components"]["gpu"]
    dur = rep["duration_s"]
    # The counter steps every 100 ms: a plain difference would be off by up
    # to 30 J at each end. Settled, the ends are measured; without, the
    # end's partial step is extrapolated and the uncertainty says so.
    close_to(g["joules"], 300 * dur, g["uncertainty_j"], 0.04 if settle else 0.25,
             "%s s, settle %s" % (seconds, settle))
    if settle:
        # Far below a plain difference's two steps (60 J, 65 % of 0.3 s).
        # Not tighter: a fresh meter takes the sightings' timing errors for
        # jitter (widened up to 3x while few steps were seen), and on a
        # loaded VM it reported 4.2 ms of jitter on this regular counter and
        # 9.2 % of a 0.3 s window as uncertainty (the error was 2.2 %).
        assert g["uncertainty_j"] < 0.15 * 300 * dur, g
        # Waiting for the counter happens after the window, not in it.
        assert dur < float(seconds) + 0.08, dur


@pytest.mark.parametrize("settle", [None, "200"])
def test_jittery_steps_seen(gpu, settle):
    """A counter whose steps come up to 15 ms early or late (15 % of the
    period) rather than on a regular grid, as a real GPU's might: a fresh
    meter sees it within one window (counter_step_jitter_s) and stays close
    to the truth. Whether the uncertainty then covers the error is tested
    on a meter that has seen a few windows (tests/unit/test_nvml.c): the
    few steps a fresh meter sees rarely show the largest offsets, so it can
    under-state the jitter (docs/gpu.md)."""
    args = ["--gpu-settle", settle] if settle else []
    rep, _ = gpu("count=1\npower_w=300\ntick_jitter_ms=15\n", args=args, cmd=("sleep", "0.8"))
    g = rep["components"]["gpu"]
    dur = rep["duration_s"]
    truth = 300 * dur
    assert abs(g["joules"] - truth) <= 0.10 * truth, (g["joules"], truth, g["uncertainty_j"])
    assert g["devices"][0]["counter_step_jitter_s"] > 0.005, g["devices"][0]


def test_regular_steps_reported(gpu):
    """A regular counter: its period is learned, and the jitter claimed is
    only the sightings' own timing error, widened while a fresh meter has
    seen few steps (up to 3x; 2.07 ms was seen on a busy VM): well below
    the 15 ms jitter that test_jittery_steps_seen must tell apart."""
    rep, _ = gpu("count=1\npower_w=300\n", cmd=("sleep", "0.5"))
    d = rep["components"]["gpu"]["devices"][0]
    assert abs(d["counter_step_s"] - 0.1) < 0.002, d
    assert d["counter_step_jitter_s"] < 0.005, d


def test_power_fallback(gpu):
    rep, _ = gpu("count=1\nenergy=0\npower_w=120\n", cmd=("sleep", "1.5"))
    g = rep["components"]["gpu"]
    assert g["status"] == "measured" and g["source"] == "nvml-power", g
    close_to(g["joules"], 120 * rep["duration_s"], g["uncertainty_j"], 0.02, "power readings")
    assert g["devices"][0]["method"] == "power-readings"
    assert any("no energy counter" in w for w in rep["warnings"]), rep["warnings"]


def test_missing_optional_symbols(gpu):
    rep, _ = gpu("count=1\npower_w=100\nprocesses=self\n", variant="-min")
    g = rep["components"]["gpu"]
    assert g["status"] == "measured", g
    close_to(g["joules"], 100 * rep["duration_s"], g["uncertainty_j"], 0.05, "minimal NVML")
    d = g["devices"][0]
    assert "uuid" not in d and "used_by_tree" not in d, d
    assert d["index"] == 0


def test_gpu_lost_mid_run(gpu):
    rep, p = gpu("count=2\npower_w=150\nlost_after_s.0=1.5\n", cmd=("sleep", "2.5"))
    g = rep["components"]["gpu"]
    assert g["status"] == "estimated" and g.get("degraded") is True, g
    assert any("GPU is lost" in w and "gpu0" in w for w in rep["warnings"]), rep["warnings"]
    devs = {d["name"]: d["joules"] for d in g["devices"]}
    dur = rep["duration_s"]
    # gpu0: measured until its last good reading (1 s), the rest estimated.
    close_to(devs["gpu0"], 150 * dur, g["uncertainty_j"], 0.05, "lost gpu0")
    close_to(devs["gpu1"], 150 * dur, g["uncertainty_j"], 0.02, "healthy gpu1")


@pytest.mark.parametrize("config,variant,needle", [
    ("init_error=9\n", "", "Driver Not Loaded"),
    ("count=0\n", "", "NVML sees no GPU"),
    ("count=1\n", "-broken", "lacks nvmlDeviceGetName"),
])
def test_unavailable(gpu, config, variant, needle):
    rep, _ = gpu(config, variant=variant, cmd=("true",))
    g = rep["components"]["gpu"]
    assert g["status"] == "unavailable" and g["joules"] is None, g
    assert needle in g["reason"], g["reason"]


def test_no_library(run_em):
    # conftest points ENERGYMETER_NVML_LIB at a path that does not exist.
    p = run_em(["stat", "--json", "--ignore-disk", "--", "true"])
    assert p.returncode == 0, p.stderr
    rep = check_report(parse_json(p.stderr))
    g = rep["components"]["gpu"]
    assert g["status"] == "unavailable"
    assert "cannot load NVML from ENERGYMETER_NVML_LIB" in g["reason"], g["reason"]
    p = run_em(["list"])
    assert "nvml" in p.stdout and "cannot load NVML" in p.stdout, p.stdout


def test_gpu_selection(gpu):
    rep, _ = gpu("count=3\npower_w=100\npower_w.1=30\n", args=["--gpu", "1"])
    g = rep["components"]["gpu"]
    assert [d["name"] for d in g["devices"]] == ["gpu1"], g
    close_to(g["joules"], 30 * rep["duration_s"], g["uncertainty_j"], 0.1, "gpu1 alone")
    rep, _ = gpu("count=3\n", args=["--gpu", "0,2"])
    assert [d["name"] for d in rep["components"]["gpu"]["devices"]] == ["gpu0", "gpu2"]
    rep, _ = gpu("count=3\n", args=["--gpu", "7"], cmd=("true",))
    g = rep["components"]["gpu"]
    assert g["status"] == "unavailable" and "no GPU 7" in g["reason"], g


def test_used_by_tree(gpu, tmp_path):
    # The measured command writes its pid where the fake lists GPU processes;
    # its ancestry is read from the real /proc (root "/").
    pids = tmp_path / "pids"
    pids.write_text("1\n")
    cmd = ("sh", "-c", "echo $$ >> %s; sleep 0.8" % pids)
    rep, _ = gpu("count=2\nprocesses_file=%s\n" % pids, cmd=cmd, root="/")
    g = rep["components"]["gpu"]
    assert g["gpus_used_by_tree"] == "0,1", g
    assert all(d["used_by_tree"] is True for d in g["devices"]), g
    pids.write_text("1\n")
    rep, _ = gpu("count=1\nprocesses_file=%s\n" % pids, cmd=("sleep", "0.4"), root="/")
    g = rep["components"]["gpu"]
    assert g["gpus_used_by_tree"] == "" and g["devices"][0]["used_by_tree"] is False, g


def test_text_output(gpu):
    text, _ = gpu("count=1\npower_w=100\n", fmt="--csv")
    assert "gpu" in text and "nvml" in text, text
