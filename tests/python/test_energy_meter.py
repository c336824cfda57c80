"""The Python package energy_meter: the original API unchanged, on fake trees.

The fake trees' counters are moved by the faketree writer at known constant
powers (intel2: package-0 20 W, package-1 15 W, their dram 5 W and 4 W) with
max_energy_range_uj = 10 J, so any window over ~0.5 s wraps package-0's
counter: a package that mishandled wraps would be tens of percent off.
"""

import ctypes
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from .conftest import PYDIR, REPO, em_bin, run_cli_json, sub_env

import energy_meter
from energy_meter import EnergyMeter, EnergyMeterError, measure
from energy_meter import _lib
from faketree import check_interval_powers

POWERS = {"cpu": {"package-0": 20.0, "package-1": 15.0},
          "dram": {"package-0": 5.0, "package-1": 4.0}}
# The writer updates counters every 5 ms: a reading lags the truth by up to
# ~10 ms of power, whatever the window's length.
STALE_S = 0.012


def close(got, truth, rel=0.01, abs_=0.0, what=""):
    assert abs(got - truth) <= rel * abs(truth) + abs_, \
        "%s: got %.5f, truth %.5f (off by %.2f%%)" % (what, got, truth,
                                                      100 * abs(got - truth) / max(truth, 1e-12))


def check_against_truth(em, rel=0.01):
    """Every package's joules within rel of P x duration."""
    res = em.get_total_joules_per_component()
    for comp, devs in POWERS.items():
        for i, (dev, p) in enumerate(sorted(devs.items())):
            close(float(res[comp][i]), p * em.duration, rel, p * STALE_S, "%s %s" % (comp, dev))
    return res


# ------------------------------------------------------------ original API

SEED = """\
from energy_meter import EnergyMeter
em = EnergyMeter(disk_avg_speed=1600e6, disk_active_power=6, disk_idle_power=1.42,
                 label="Test Meter", include_idle=False)
em.begin()
# ... code to measure ...
em.end()
em.plot_total_joules_per_component()      # bar chart: cpu, dram, gpu, disk, total (joules)
print(em.get_total_joules_per_component())  # {'cpu': per-socket, 'dram': per-socket, 'gpu': float, 'disk': float}
"""


def test_seed_snippet_runs_unchanged(fake_tree, tmp_path):
    """DESIGN.md's usage snippet, verbatim, in a fresh interpreter."""
    tree = fake_tree("intel2")
    script = tmp_path / "seed.py"
    script.write_text(SEED)
    env = sub_env(tree.root)
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND"):
        env.pop(var, None)
    with tree.writer():
        p = subprocess.run([sys.executable, str(script)], env=env, cwd=str(tmp_path),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    # No silent zeros: the fake tree has no GPU and no disk counters, and the
    # meter says so, once each; and no other warning ("cannot show the figure").
    named = re.findall(r"EnergyMeterWarning: energy_meter: (\w+) was not measured", p.stderr)
    assert sorted(named) == ["disk", "gpu"], p.stderr
    other = [ln for ln in p.stderr.splitlines()
             if "Warning" in ln and "EnergyMeterWarning" not in ln]
    assert not other, p.stderr
    out = p.stdout.strip()
    m = re.fullmatch(r"\{'cpu': array\(\[([^\]]*)\]\), 'dram': array\(\[([^\]]*)\]\), "
                     r"'gpu': ([0-9.e+-]+), 'disk': ([0-9.e+-]+)\}", out)
    assert m, "unexpected output: %r" % out
    cpu = [float(x) for x in m.group(1).split(",")]
    dram = [float(x) for x in m.group(2).split(",")]
    assert len(cpu) == 2 and len(dram) == 2, out  # one value per socket
    assert all(x >= 0 for x in cpu + dram)
    assert float(m.group(3)) == 0.0  # no GPU here (ENERGYMETER_NVML_LIB points nowhere)
    assert float(m.group(4)) >= 0.0


def test_types_and_keys_as_the_original(fake_tree):
    tree = fake_tree("intel2")
    with tree.writer():
        em = EnergyMeter(disk_avg_speed=1600e6, disk_active_power=6, disk_idle_power=1.42,
                         label="Test Meter", include_idle=False)
        em.begin()
        time.sleep(0.2)
        em.end()
    res = em.get_total_joules_per_component()
    assert list(res) == ["cpu", "dram", "gpu", "disk"]
    for k in ("cpu", "dram"):
        assert type(res[k]) is np.ndarray, (k, type(res[k]))
        assert res[k].dtype == np.float64 and res[k].shape == (2,), (k, res[k])
    for k in ("gpu", "disk"):
        assert type(res[k]) is float, (k, type(res[k]))
    assert em.label == "Test Meter"
    assert isinstance(em.start_time, float) and isinstance(em.end_time, float)
    assert isinstance(em.duration, float)
    assert em.end_time >= em.start_time
    assert abs(em.start_time - time.time()) < 60  # seconds since the epoch
    close(em.duration, 0.2, 0.25, what="duration")
    # The result is a fresh copy: changing it changes nothing in the meter.
    res["cpu"][0] = -1
    assert em.get_total_joules_per_component()["cpu"][0] >= 0
    # The original's first spelling still works.
    assert list(em.get_total_jules_per_component()) == list(res)


def test_one_socket_gives_one_value(fake_tree):
    fake_tree("intel1")
    em = EnergyMeter(label="one socket")
    em.begin()
    em.end()
    res = em.get_total_joules_per_component()
    assert res["cpu"].shape == (1,) and res["dram"].shape == (1,)


def test_values_match_truth_and_cli(fake_tree, tmp_path):
    """Python and the CLI, same kind of window: both within 1 % of the truth."""
    tree = fake_tree("intel2")
    with tree.writer():
        em = EnergyMeter(label="py")
        em.begin()
        time.sleep(1.5)
        em.end()
        rep = run_cli_json(tree, ["sleep", "1.5"], tmp_path)
    res = check_against_truth(em)
    cli = {c: {d["name"]: d["joules"] for d in rep["components"][c]["devices"]}
           for c in ("cpu", "dram")}
    for comp, devs in POWERS.items():
        for i, (dev, p) in enumerate(sorted(devs.items())):
            close(cli[comp][dev], p * rep["duration_s"], 0.01, p * STALE_S, "CLI %s %s"
                  % (comp, dev))
            # Same power through both clients.
            close(float(res[comp][i]) / em.duration, cli[comp][dev] / rep["duration_s"], 0.02,
                  what="python vs CLI %s %s" % (comp, dev))
    # report() is the same schema as the CLI's JSON, with the same keys.
    pr = em.report()
    assert pr["schema"] == rep["schema"] == "energymeter/1"
    assert set(pr) - {"time_series"} == set(rep) - {"time_series"}
    assert set(pr["components"]) == set(rep["components"])
    assert pr["label"] == "py" and pr["command"] is None
    close(pr["components"]["cpu"]["joules"], float(np.sum(res["cpu"])), 1e-5, 1e-5)
    close(em.total_joules(), pr["total_joules"], 1e-6, 1e-6)


def test_missing_sources_give_zeros_and_report_says_why():
    """No RAPL, no GPU, no disk source: zeros as the original, reasons in report()."""
    em = EnergyMeter(disk_avg_speed=1600e6, disk_active_power=6, disk_idle_power=1.42,
                     label="nothing here", no_estimates=True)
    em.begin()
    em.end()
    res = em.get_total_joules_per_component()
    assert type(res["cpu"]) is np.ndarray and res["cpu"].tolist() == [0.0]
    assert type(res["dram"]) is np.ndarray and res["dram"].tolist() == [0.0]
    assert res["gpu"] == 0.0 and type(res["gpu"]) is float
    assert res["disk"] == 0.0 and type(res["disk"]) is float
    rep = em.report()
    for name in ("cpu", "dram", "gpu", "disk"):
        c = rep["components"][name]
        assert c["status"] == "unavailable" and c["joules"] is None, c
        assert isinstance(c["reason"], str) and len(c["reason"]) > 10, c
        assert em.joules(name) is None  # the honest answer beside the original's zeros
    assert rep["total_joules"] == 0


def fake_nvml():
    build = os.environ.get("ENERGYMETER_BUILD") or os.path.join(REPO, "build")
    path = os.path.join(build, "tests", "libnvidia-ml-fake.so")
    if not os.path.exists(path):
        pytest.skip("no fake NVML library at %s (built by `make pytest-python`)" % path)
    return path


def test_gpus_with_fake_nvml(fake_tree, tmp_path, monkeypatch):
    """Two fake GPUs at 100 W and 50 W: gpu is one float for all GPUs, as the
    original's key, and agrees with the CLI's JSON."""
    tree = fake_tree("intel2")
    cfg = tmp_path / "nvml.cfg"
    cfg.write_text("count=2\npower_w=100\npower_w.1=50\ntick_ms=5\n")
    monkeypatch.setenv("ENERGYMETER_NVML_LIB", fake_nvml())
    monkeypatch.setenv("FAKE_NVML_CONFIG", str(cfg))
    with tree.writer():
        em = EnergyMeter(label="gpus")
        em.begin()
        time.sleep(1.0)
        em.end()
        env = {"ENERGYMETER_NVML_LIB": fake_nvml(), "FAKE_NVML_CONFIG": str(cfg)}
        out = tmp_path / "cli.json"
        p = subprocess.run([em_bin(), "stat", "--json", "-o", str(out), "--", "sleep", "1"],
                           env=sub_env(tree.root, env), stderr=subprocess.PIPE, text=True,
                           timeout=60)
        assert p.returncode == 0, p.stderr
    res = em.get_total_joules_per_component()
    assert type(res["gpu"]) is float
    gpu = em.report()["components"]["gpu"]
    assert gpu["status"] == "measured", gpu
    assert [d["name"] for d in gpu["devices"]] == ["gpu0", "gpu1"]
    assert res["gpu"] == pytest.approx(sum(d["joules"] for d in gpu["devices"]), abs=1e-5)
    close(res["gpu"], 150.0 * em.duration, 0.01, gpu["uncertainty_j"], "python gpu")
    import json as _json

    cli = _json.loads(out.read_text())
    cg = cli["components"]["gpu"]
    close(cg["joules"], 150.0 * cli["duration_s"], 0.01, cg["uncertainty_j"], "CLI gpu")
    check_against_truth(em)  # RAPL unaffected


def test_disk_model_docstring_and_options():
    """With disk_avg_speed, the original bytes/speed model (said in the docstring)."""
    doc = EnergyMeter.__doc__
    assert "disk_avg_speed" in doc and "bytes/speed" in doc
    assert "original" in doc
    # Asking for the bytes model without a speed is a usage error.
    with pytest.raises(ValueError, match="disk_avg_speed"):
        EnergyMeter(disk_time="bytes")
    EnergyMeter(disk_avg_speed=1e9, disk_time="busy").close()


# -------------------------------------------------------- errors and usage

@pytest.mark.parametrize("kwargs, exc", [
    (dict(disk_avg_speed=-1), ValueError),
    (dict(disk_avg_speed=0), ValueError),
    (dict(disk_avg_speed=float("nan")), ValueError),
    (dict(disk_avg_speed=float("inf")), ValueError),
    (dict(disk_active_power=-6), ValueError),
    (dict(disk_idle_power=-1.42), ValueError),
    (dict(disk_active_power="6"), TypeError),
    (dict(interval_ms=0), ValueError),
    (dict(interval_ms=-5), ValueError),
    (dict(interval_ms=1.5), TypeError),
    (dict(disk_scope="galaxy"), ValueError),
    (dict(disk_time="psychic"), ValueError),
    (dict(gpus="a,b"), ValueError),
    (dict(gpus=[-1]), ValueError),
    (dict(gpu_settle_ms=99999), ValueError),
    (dict(disk_power={"nvme0n1": (-1, 1)}), ValueError),
    (dict(disk_power={"nvme0n1": 5}), ValueError),
    (dict(label=3), TypeError),
], ids=lambda x: repr(x) if isinstance(x, dict) else x.__name__)
def test_bad_arguments(kwargs, exc):
    with pytest.raises(exc):
        EnergyMeter(**kwargs)


def test_unknown_component(fake_tree):
    fake_tree("intel1")
    em = EnergyMeter(interval_ms=50)
    em.begin()
    time.sleep(0.12)
    em.end()
    with pytest.raises(ValueError, match="unknown component 'warp-drive'"):
        em.joules("warp-drive")
    with pytest.raises(ValueError, match="unknown component"):
        em.plot_power_over_time(components=["cpu", "warp-drive"])
    assert em.joules("psys") is not None  # an extra the report has (no writer: 0 J)


def test_errors_in_order_of_calls():
    em = EnergyMeter()
    with pytest.raises(EnergyMeterError, match="begin"):
        em.end()
    with pytest.raises(EnergyMeterError, match="nothing measured"):
        em.get_total_joules_per_component()
    with pytest.raises(EnergyMeterError):
        em.report()
    em.begin()
    with pytest.raises(EnergyMeterError, match="twice"):
        em.begin()
    with pytest.raises(EnergyMeterError, match="still running"):
        em.get_total_joules_per_component()
    em.end()
    em.close()
    with pytest.raises(EnergyMeterError, match="closed"):
        em.begin()
    em.close()  # twice is fine


def test_exception_carries_the_library_message():
    """An error of the C library reaches Python with its message and code."""
    em = EnergyMeter()
    em.begin()
    em._running = False  # get past the Python-side check: the library must refuse too
    with pytest.raises(EnergyMeterError) as ei:
        em.begin()
    assert ei.value.code == _lib.EM_ERR_STATE
    lib = _lib.load()
    libmsg = _lib.decode(lib.em_meter_errmsg(em._meter))
    assert libmsg and str(ei.value) == libmsg
    em._running = True
    em.end()


def test_library_rejects_what_python_would_not_check():
    """Options the library refuses come back as ValueError with its message."""
    lib = _lib.load()
    opts = _lib.init_options(lib)
    opts.disk_time = _lib.EM_DISK_TIME_BYTES  # without disk_avg_speed
    h = ctypes.c_void_p()
    assert lib.em_meter_new(ctypes.byref(opts), ctypes.byref(h)) == _lib.EM_ERR_INVALID
    assert "disk_avg_speed" in _lib.decode(lib.em_meter_errmsg(None))


# ------------------------------------------------- reuse, with, decorator

def test_reuse_many_windows(fake_tree):
    tree = fake_tree("intel2")
    em = EnergyMeter(label="reuse")
    starts = []
    with tree.writer():
        for secs in (0.6, 0.1, 0.9):
            em.begin()
            time.sleep(secs)
            em.end()
            close(em.duration, secs, 0.1, 0.02, "duration")
            check_against_truth(em, rel=0.02)
            starts.append(em.start_time)
    assert starts == sorted(starts) and len(set(starts)) == 3


def test_context_manager(fake_tree):
    tree = fake_tree("intel2")
    with tree.writer():
        with EnergyMeter(label="with") as em:
            assert em.running
            time.sleep(0.8)
        assert not em.running
        check_against_truth(em)
        # An exception in the block ends the window and propagates.
        with pytest.raises(KeyError):
            with em:
                time.sleep(0.1)
                raise KeyError("boom")
        assert not em.running
        close(em.duration, 0.1, 0.3, what="duration")


def test_decorator(fake_tree):
    tree = fake_tree("intel2")
    seen = []

    @measure(label="work", callback=seen.append)
    def work(x, secs=0.5):
        """Doc of work."""
        time.sleep(secs)
        return x * 2

    @measure
    def bare():
        time.sleep(0.05)
        return "ok"

    with tree.writer():
        assert work(21) == 42
        assert work.__name__ == "work" and work.__doc__ == "Doc of work."
        assert isinstance(work.meter, EnergyMeter) and work.meter.label == "work"
        check_against_truth(work.meter)
        assert work(1, secs=0.2) == 2
        close(work.meter.duration, 0.2, 0.2, what="second call")
        assert seen == [work.meter, work.meter]
        assert bare() == "ok" and bare.meter.duration > 0.04

    # An exception inside still ends the window.
    @measure()
    def fails():
        raise RuntimeError("inside")

    with pytest.raises(RuntimeError, match="inside"):
        fails()
    assert not fails.meter.running
    with pytest.raises(TypeError):
        measure(42)


def test_recursion_measured_once(fake_tree):
    fake_tree("intel1")

    @measure()
    def fact(n):
        return 1 if n <= 1 else n * fact(n - 1)

    assert fact(5) == 120
    assert not fact.meter.running and fact.meter.duration is not None


# ----------------------------------------------------------- time series

def test_samples(fake_tree):
    tree = fake_tree("intel2")
    with tree.writer():
        em = EnergyMeter(label="series", interval_ms=100)
        em.begin()
        time.sleep(1.2)
        em.end()
    s = em.samples()
    t = s["t_s"]
    assert s["interval_s"] == pytest.approx(0.1)
    assert isinstance(t, np.ndarray) and 10 <= len(t) <= 14, t
    assert np.all(np.diff(t) > 0), t
    close(t[-1], em.duration, 0, 0.005, "last sample at the end")
    cpu = s["components"]["cpu"]
    assert set(cpu["devices"]) == {"package-0", "package-1"}
    for dev, p in POWERS["cpu"].items():
        check_interval_powers(list(t), list(cpu["devices"][dev]), p, "%s samples" % dev)
    np.testing.assert_allclose(cpu["watts"], cpu["devices"]["package-0"]
                               + cpu["devices"]["package-1"], rtol=1e-9)
    # Integrating the series gives the window's joules.
    dt = np.diff(np.concatenate([[0.0], t]))
    close(float(np.sum(cpu["watts"] * dt)), float(np.sum(em.get_total_joules_per_component()
                                                          ["cpu"])), 1e-4, 1e-4, "integral")
    assert "gpu" not in s["components"]  # unavailable: no series
    # The same data as the JSON report's time_series.
    ts = em.report()["time_series"]
    np.testing.assert_allclose(ts["t_s"], t, atol=2e-6)
    np.testing.assert_allclose(ts["components"]["cpu"]["watts"], cpu["watts"], atol=2e-6)


def test_no_samples_without_interval(fake_tree):
    fake_tree("intel1")
    em = EnergyMeter()
    em.begin()
    time.sleep(0.05)
    em.end()
    s = em.samples()
    assert len(s["t_s"]) == 0 and s["components"] == {}
    with pytest.raises(EnergyMeterError, match="interval_ms"):
        em.plot_power_over_time()


# ----------------------------------------------------------------- plots

def png_pixels(path):
    import matplotlib.image

    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return matplotlib.image.imread(path)


def test_plot_total_joules_writes_png(fake_tree, tmp_path):
    tree = fake_tree("intel2")
    with tree.writer():
        em = EnergyMeter(label="Plot Meter")
        em.begin()
        time.sleep(0.3)
        em.end()
    out = tmp_path / "bars.png"
    import matplotlib
    import matplotlib.pyplot as plt

    open_before = plt.get_fignums()
    fig = em.plot_total_joules_per_component(filename=str(out))
    ax = fig.axes[0]
    # Saved figures are closed: a loop of saved plots does not pile them up.
    assert plt.get_fignums() == open_before

    assert matplotlib.get_backend().lower() == "agg"
    assert out.stat().st_size > 5000
    img = png_pixels(str(out))
    assert img.std() > 0.05, "blank image"
    assert ax.get_title() == "Plot Meter"
    assert ax.get_ylabel() == "Energy (J)"
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["cpu", "dram", "gpu", "disk", "total"]
    heights = [p.get_height() for p in ax.patches]
    res = em.get_total_joules_per_component()
    want = [np.sum(res["cpu"]), np.sum(res["dram"]), res["gpu"], res["disk"]]
    want.append(sum(want))
    np.testing.assert_allclose(heights, want, rtol=1e-9)
    ax2 = em.plot_total_joules_per_component(include_total=False).axes[0]
    assert [t.get_text() for t in ax2.get_xticklabels()] == ["cpu", "dram", "gpu", "disk"]


def test_plot_power_over_time_writes_png(fake_tree, tmp_path):
    tree = fake_tree("intel2")
    with tree.writer():
        em = EnergyMeter(label="Series Meter", interval_ms=50)
        em.begin()
        time.sleep(0.5)
        em.end()
    out = tmp_path / "power.png"
    ax = em.plot_power_over_time(filename=str(out)).axes[0]
    assert out.stat().st_size > 5000
    assert png_pixels(str(out)).std() > 0.05
    assert ax.get_ylabel() == "Power (W)" and "Time" in ax.get_xlabel()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "cpu" in legend and "dram" in legend
    ax = em.plot_power_over_time(per_device=True, components="cpu",
                                 filename=str(tmp_path / "dev.png")).axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["cpu package-0", "cpu package-1"]


# ------------------------------------------------ library loading, layout

def test_options_struct_matches_c(tmp_path):
    """ctypes' em_options has the C compiler's offsets and size."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler")
    fields = [f[0] for f in _lib.Options._fields_]
    src = tmp_path / "layout.c"
    src.write_text("#include <stddef.h>\n#include <stdio.h>\n#include \"energymeter/energymeter.h\"\n"
                   "int main(void) {\n printf(\"sizeof %zu\\n\", sizeof(em_options));\n"
                   + "".join(' printf("%s %%zu\\n", offsetof(em_options, %s));\n' % (f, f)
                             for f in fields)
                   + " return 0;\n}\n")
    exe = tmp_path / "layout"
    subprocess.run([cc, "-std=c11", "-I", os.path.join(REPO, "include"), "-o", str(exe),
                    str(src)], check=True)
    out = dict(line.split() for line in subprocess.check_output([str(exe)], text=True)
               .splitlines())
    assert int(out["sizeof"]) == ctypes.sizeof(_lib.Options)
    for f in fields:
        assert int(out[f]) == getattr(_lib.Options, f).offset, f
    # And the loaded library agrees on the size (em_options_init writes it).
    assert _lib.options_size(_lib.load()) == ctypes.sizeof(_lib.Options)


def test_library_found_beside_the_package(tmp_path, library):
    pkg = tmp_path / "site" / "energy_meter"
    shutil.copytree(os.path.join(PYDIR, "energy_meter"), str(pkg),
                    ignore=shutil.ignore_patterns("__pycache__", "libenergymeter.so"))
    shutil.copy(library, str(pkg / "libenergymeter.so"))
    env = sub_env("/nonexistent", {"PYTHONPATH": str(tmp_path / "site")})
    env.pop("ENERGYMETER_LIB", None)
    p = subprocess.run([sys.executable, "-c", "import energy_meter as e; print(e.library_path());"
                        "print(e.library_version())"], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    path, version = p.stdout.split()
    assert path == str(pkg / "libenergymeter.so")
    assert version == energy_meter.library_version()


def test_bad_library_path_is_a_clear_error(tmp_path):
    env = sub_env("/nonexistent", {"ENERGYMETER_LIB": str(tmp_path / "nope.so")})
    p = subprocess.run([sys.executable, "-c", "from energy_meter import EnergyMeter; "
                        "EnergyMeter()"], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    assert p.returncode != 0
    assert "LibraryNotFound" in p.stderr and "nope.so" in p.stderr, p.stderr


def test_install_python_where_debian_python_imports(tmp_path):
    """`make install-python` puts the package in a directory on python3's path."""
    if not shutil.which("make"):
        pytest.skip("no make")
    dest = tmp_path / "dest"
    p = subprocess.run(["make", "-s", "-C", REPO, "install-python", "DESTDIR=%s" % dest,
                        "PREFIX=/usr/local"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    inits = list(dest.rglob("energy_meter/__init__.py"))
    assert len(inits) == 1, inits
    sitedir = "/" + os.path.relpath(str(inits[0].parent.parent), str(dest))
    syspath = subprocess.check_output(["/usr/bin/python3", "-c", "import sys; print(sys.path)"],
                                      text=True, env={"PATH": "/usr/bin:/bin"})
    assert repr(sitedir) in syspath, (sitedir, syspath)
    recorded = (inits[0].parent / "_install.py").read_text()
    assert "/usr/local/lib/libenergymeter.so.0" in recorded
    # The installed copy imports and works (library given explicitly).
    env = sub_env("/nonexistent", {"PYTHONPATH": str(inits[0].parent.parent)})
    p = subprocess.run([sys.executable, "-c", "import energy_meter, sys; "
                        "assert energy_meter.__file__.startswith(sys.argv[1]); "
                        "energy_meter.EnergyMeter().close()", str(dest)], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert p.returncode == 0, p.stderr


def test_matplotlib_imported_only_to_plot():
    code = ("import sys, energy_meter; em = energy_meter.EnergyMeter(); em.begin(); em.end(); "
            "em.get_total_joules_per_component(); em.report(); "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'")
    p = subprocess.run([sys.executable, "-c", code], env=sub_env("/nonexistent"),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert p.returncode == 0, p.stderr


def test_version_matches_the_cli():
    out = subprocess.check_output([em_bin(), "--version"], text=True)
    assert energy_meter.library_version() in out
    assert not math.isnan(float(energy_meter.library_version().split(".")[0]))


def test_stored_baseline_is_used(fake_tree, tmp_path, monkeypatch):
    """Like stat: the baseline `energymeter calibrate` stored is used when there
    is one, giving idle_joules + dynamic_joules = joules; a named file that
    does not exist is an error; use_baseline=False ignores the stored one."""
    tree = fake_tree("intel1")
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({
        "schema": "energymeter-baseline/1", "created": "2026-11-25T00:00:00Z", "duration_s": 1,
        "components": {"cpu": {"watts": 20.0, "devices": {"package-0": 20.0}}}}))
    monkeypatch.setenv("ENERGYMETER_BASELINE", str(path))
    with tree.writer():
        em = EnergyMeter(label="baseline")
        em.begin()
        time.sleep(0.4)
        em.end()
    cpu = em.report()["components"]["cpu"]
    assert abs(cpu["idle_joules"] - 20.0 * em.report()["duration_s"]) < 1e-5, cpu
    assert abs(cpu["idle_joules"] + cpu["dynamic_joules"] - cpu["joules"]) < 1e-5, cpu
    assert abs(cpu["dynamic_joules"]) < 0.03 * cpu["joules"] + 0.05, cpu
    em.close()

    em = EnergyMeter(use_baseline=False)
    em.begin()
    em.end()
    assert "idle_joules" not in em.report()["components"]["cpu"]
    em.close()

    with pytest.raises(EnergyMeterError, match="calibrate"):
        EnergyMeter(baseline_file=str(tmp_path / "missing.json"))
