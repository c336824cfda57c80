"""The Python package as a product: the original module's whole surface, no
silent zeros (EnergyMeterWarning), strict arguments, fork, pickling, plots
and the decorator on coroutines and generators. Fake powercap trees (see
test_energy_meter.py for their powers)."""

import asyncio
import multiprocessing
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import pytest

from .conftest import NO_NVML, sub_env
from .test_energy_meter import POWERS, STALE_S, check_against_truth, close

import energy_meter
from energy_meter import EnergyMeter, EnergyMeterError, EnergyMeterWarning, measure
from faketree import FakeTree

# Every public name of the original EnergyMeter class (maufadel/EnergyMeter,
# energymeter/energy_meter.py): its methods, its class constant and every
# attribute its __init__, begin() and end() set.
ORIGINAL_NAMES = [
    "SCRIPT", "begin", "end", "get_total_joules_disk", "get_total_joules_cpu",
    "get_total_joules_dram", "get_total_joules_gpu", "get_total_joules_per_component",
    "plot_total_joules_per_component", "label", "include_idle", "meter", "ignore_disk",
    "disk_avg_speed", "disk_active_power", "disk_idle_power", "thread_gpu", "bpftrace_command",
    "start_time", "popen", "bpftrace_pid", "total_rbytes", "total_wbytes", "end_time",
    "duration",
]
# Spellings our earlier releases accepted.
ALIASES = ["get_total_jules_per_component", "plot_total_jules_per_component"]


def caught(fn):
    """Run fn with every warning recorded; (result, [EnergyMeterWarning])."""
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        out = fn()
    return out, [w.message for w in got if issubclass(w.category, EnergyMeterWarning)]


def window(em, secs=0.3):
    em.begin()
    time.sleep(secs)
    em.end()


# ------------------------------------------------------------ original API

def test_every_original_name_exists(fake_tree):
    fake_tree("intel2")
    em = EnergyMeter(disk_avg_speed=1600e6, disk_active_power=6, disk_idle_power=1.42,
                     label="Test Meter")
    em.begin()
    em.end()
    missing = [n for n in ORIGINAL_NAMES + ALIASES if not hasattr(em, n)]
    assert not missing, missing
    for name in ("begin", "end", "get_total_joules_cpu", "get_total_joules_dram",
                 "get_total_joules_gpu", "get_total_joules_disk"):
        assert callable(getattr(em, name)), name


def test_per_component_getters_match_the_original_types(fake_tree):
    tree = fake_tree("intel2")
    with tree.writer():
        em = EnergyMeter(label="getters")
        _, got = caught(lambda: window(em, 0.6))
    res = check_against_truth(em)
    cpu, dram = em.get_total_joules_cpu(), em.get_total_joules_dram()
    assert isinstance(cpu, np.ndarray) and isinstance(dram, np.ndarray)
    np.testing.assert_array_equal(cpu, res["cpu"])
    np.testing.assert_array_equal(dram, res["dram"])
    assert len(cpu) == 2 and len(dram) == 2
    # The fake tree has no GPU and no disk counters: 0.0 as the original, and said.
    assert isinstance(em.get_total_joules_gpu(), float) and em.get_total_joules_gpu() == 0.0
    assert isinstance(em.get_total_joules_disk(), float) and em.get_total_joules_disk() == 0.0
    assert sorted(w.component for w in got) == ["disk", "gpu"], [str(w) for w in got]
    assert isinstance(em.total_rbytes, int) and isinstance(em.total_wbytes, int)
    assert em.thread_gpu is None and em.popen is None


def test_meter_result_in_pyrapl_units(fake_tree):
    tree = fake_tree("intel2")
    with tree.writer():
        em = EnergyMeter(label="rapl")
        assert em.meter.result is None  # nothing measured yet
        window(em, 0.5)
    r = em.meter.result
    assert r.label == "rapl"
    close(r.duration, em.duration * 1e6, 1e-9, 0, "duration in us")
    np.testing.assert_allclose(r.pkg, em.get_total_joules_cpu() * 1e6, rtol=1e-12)
    np.testing.assert_allclose(r.dram, em.get_total_joules_dram() * 1e6, rtol=1e-12)
    assert abs(r.timestamp - em.start_time) < 1e-6


def test_disk_bytes_of_the_window(tmp_path):
    """total_rbytes / total_wbytes: the bytes the window moved to storage
    (this machine's real block layer; skipped where it cannot be measured)."""
    os.environ.pop("ENERGYMETER_SYSFS_ROOT", None)
    em = EnergyMeter(disk_avg_speed=1e9, disk_active_power=6, disk_idle_power=1.42)
    em.begin()
    path = tmp_path / "blob"
    with open(path, "wb") as f:
        f.write(os.urandom(4 << 20))
        f.flush()
        os.fsync(f.fileno())
    em.end()
    disk = em.report()["components"]["disk"]
    if disk["status"] == "unavailable":
        pytest.skip("storage cannot be measured here: %s" % disk["reason"])
    assert em.total_wbytes == disk["write_bytes"] and em.total_rbytes == disk["read_bytes"]
    assert em.total_wbytes >= 4 << 20, disk


# ------------------------------------------------------ no silent zeros

EXPECT_NONE = {"cpu", "dram", "gpu", "disk"}


def test_no_sensor_warns_once_per_reason():
    em = EnergyMeter(no_estimates=True)  # the empty tree of the clean_env fixture
    _, got = caught(lambda: window(em, 0.01))
    assert sorted(w.component for w in got) == sorted(EXPECT_NONE), [str(w) for w in got]
    assert all(w.kind == "unavailable" for w in got)
    for w in got:
        text = str(w)
        assert text.startswith("energy_meter: %s was not measured" % w.component), text
        assert not re.search(r"(^|\s)--[a-z]", text), "a CLI flag in a Python warning: " + text
    cpu = [str(w) for w in got if w.component == "cpu"][0]
    assert "no_estimates=True" in cpu, cpu  # the Python argument, not --no-estimates
    # The same reasons again: no second warning.
    _, again = caught(lambda: window(em, 0.01))
    assert again == []
    # A new meter warns again (once per meter).
    _, fresh = caught(lambda: window(EnergyMeter(no_estimates=True), 0.01))
    assert len(fresh) == 4


def test_fix_hints_name_python_arguments():
    em = EnergyMeter()  # empty tree: the CPU model has no processor to go by
    _, got = caught(lambda: window(em, 0.01))
    cpu = [str(w) for w in got if w.component == "cpu"]
    assert cpu and "cpu_tdp_w=W" in cpu[0] and "--cpu-tdp" not in cpu[0], cpu
    assert "cpu_tdp_w=W" in em.last.components["cpu"].reason
    assert "--cpu-tdp" in em.report()["components"]["cpu"]["reason"]  # the JSON is the library's


def test_estimate_is_announced(fake_tree, tmp_path):
    root = tempfile.mkdtemp(prefix="em-est-", dir=str(tmp_path))
    os.environ["ENERGYMETER_SYSFS_ROOT"] = root
    em = EnergyMeter(cpu_tdp_w=100, cpu_idle_w=20, ignore_disk=True)
    _, got = caught(lambda: window(em, 0.2))
    est = [w for w in got if w.kind == "estimated"]
    assert [w.component for w in est] == ["cpu"], [str(w) for w in got]
    assert "estimate, not a measurement" in str(est[0]) and "cpu_tdp_w" in str(est[0])
    assert em.status("cpu") == "estimated"
    assert em.last.components["cpu"].uncertainty > 0
    assert not [w for w in got if w.component == "disk"]  # ignore_disk=True: asked for


def test_vanished_zone_is_degraded_and_warned(fake_tree):
    tree = fake_tree("intel2")
    em = EnergyMeter(ignore_disk=True)
    with tree.writer() as w:
        w.vanish("intel-rapl:1", time.monotonic() + 0.3)
        _, got = caught(lambda: window(em, 0.8))
    deg = [x for x in got if x.kind == "degraded"]
    assert [x.component for x in deg] == ["cpu"], [str(x) for x in got]
    assert "degraded" in str(deg[0]) and "package-1" in str(deg[0]), str(deg[0])
    assert em.last.components["cpu"].degraded


@pytest.mark.parametrize("how", ["-W", "PYTHONWARNINGS"])
def test_warning_escalates_to_an_error(tmp_path, how):
    """-W error::energy_meter.EnergyMeterWarning turns it into an exception
    (CPython drops -W options naming a package's category, so the package
    applies them when imported)."""
    script = tmp_path / "w.py"
    script.write_text("from energy_meter import EnergyMeter\n"
                      "em = EnergyMeter()\nem.begin()\nem.end()\nprint('not reached')\n")
    env = sub_env(tempfile.mkdtemp(dir=str(tmp_path)))
    opt = "error::energy_meter.EnergyMeterWarning"
    args = [sys.executable, str(script)]
    if how == "-W":
        args[1:1] = ["-W", opt]
    else:
        env["PYTHONWARNINGS"] = opt
    p = subprocess.run(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert "Traceback" in p.stderr and "EnergyMeterWarning: energy_meter: " in p.stderr, p.stderr
    assert "not reached" not in p.stdout
    # And "ignore" silences it.
    env.pop("PYTHONWARNINGS", None)
    p = subprocess.run([sys.executable, "-W", "ignore::energy_meter.EnergyMeterWarning",
                        str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    assert p.returncode == 0 and "not reached" in p.stdout, p.stderr
    assert "EnergyMeterWarning: energy_meter" not in p.stderr, p.stderr


def _as_nobody():
    if os.geteuid() != 0:
        pytest.skip("needs root to drop to uid 65534 (running as uid %d)" % os.geteuid())
    if shutil.which("setpriv"):
        return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    pytest.skip("setpriv is not installed")


def test_permission_denied_warns_as_nobody(tmp_path):
    prefix = _as_nobody()
    d = tempfile.mkdtemp(prefix="em-perm-")
    try:
        tree = FakeTree.build(os.path.join(d, "root"), "intel1", range_uj=10_000_000,
                              energy_mode=0o400)
        tree.chmod_tree(0o755)
        os.chmod(d, 0o755)
        script = os.path.join(d, "p.py")
        with open(script, "w") as f:
            f.write("import warnings\nfrom energy_meter import EnergyMeter, EnergyMeterWarning\n"
                    "with warnings.catch_warnings(record=True) as got:\n"
                    "    warnings.simplefilter('always')\n"
                    "    em = EnergyMeter(no_estimates=True, ignore_disk=True)\n"
                    "    em.begin(); em.end()\n"
                    "for w in got:\n"
                    "    if issubclass(w.category, EnergyMeterWarning):\n"
                    "        print(w.message.component, w.message.kind, '|', w.message)\n"
                    "print('cpu=', em.get_total_joules_cpu())\n")
        os.chmod(script, 0o644)
        env = sub_env(tree.root, {"MPLCONFIGDIR": d})
        p = subprocess.run(prefix + [sys.executable, script], env=env, cwd=d, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        assert p.returncode == 0, p.stderr
        lines = [ln for ln in p.stdout.splitlines() if "|" in ln]
        comps = sorted(ln.split()[0] for ln in lines)
        assert comps == ["cpu", "dram", "gpu"], p.stdout
        cpu = [ln for ln in lines if ln.startswith("cpu ")][0]
        assert "unavailable" in cpu and "ermission" in cpu, cpu
        assert "a+r" not in cpu and "chmod -R" not in cpu, cpu
        assert "cpu= [0.]" in p.stdout
    finally:
        subprocess.run(["rm", "-rf", d])


# ------------------------------------------------------- strict arguments

@pytest.mark.parametrize("kw", [{"include_idle": "no"}, {"include_idle": 1},
                                {"ignore_disk": "yes"}, {"no_bpf": None},
                                {"sync_cuda": "true"}, {"no_estimates": 0.0}])
def test_flags_must_be_bool(kw):
    with pytest.raises(TypeError, match="must be True or False"):
        EnergyMeter(**kw)


def test_numpy_bool_is_a_bool():
    assert EnergyMeter(include_idle=np.bool_(True)).include_idle is True


@pytest.mark.parametrize("bad", ["garbage", "sda", "sda:6", "sda:x:1", "sda:6:1,", ":6:1",
                                 "sda:-1:1", "sda:6:1,sda:5:1"])
def test_malformed_disk_power_string(bad):
    with pytest.raises(ValueError, match="disk_power"):
        EnergyMeter(disk_power=bad)


def test_disk_power_forms():
    EnergyMeter(disk_power="nvme0n1:6:1.42,sda:2.5e0:.8")
    EnergyMeter(disk_power={"nvme0n1": (6, 1.42)})
    with pytest.raises(TypeError):
        EnergyMeter(disk_power=6)
    with pytest.raises(ValueError):
        EnergyMeter(disk_power={})


def test_label_with_nul_is_rejected():
    with pytest.raises(ValueError, match="NUL"):
        EnergyMeter(label="a\0b")
    assert EnergyMeter(label="ünïcode label").label == "ünïcode label"


def test_other_argument_types():
    with pytest.raises(TypeError):
        EnergyMeter(interval_ms=1.5)
    with pytest.raises(TypeError):
        EnergyMeter(gpus=True)
    with pytest.raises(ValueError):
        EnergyMeter(gpus="0,,1")
    with pytest.raises(ValueError):
        EnergyMeter(gpus=[0, 0])
    with pytest.raises(ValueError):
        EnergyMeter(disk_scope="everything")
    with pytest.raises(TypeError):
        EnergyMeter(sync=42)


# ------------------------------------------------------------- pickling

def test_pickling_a_meter_is_a_clear_type_error(fake_tree):
    fake_tree("intel1")
    em = EnergyMeter()
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(em)


def test_results_pickle(fake_tree):
    tree = fake_tree("intel2")
    with tree.writer():
        em = EnergyMeter(label="pickled")
        window(em, 0.3)
    m = pickle.loads(pickle.dumps(em.last))
    assert m.total_joules == em.total_joules()
    assert m.report() == em.report()
    np.testing.assert_array_equal(m.get_total_joules_per_component()["cpu"],
                                  em.get_total_joules_cpu())


# ----------------------------------------------------------------- fork

def _child_measures(em, q):
    try:
        em.begin()
        time.sleep(0.6)
        em.end()
        q.put(("ok", em.get_total_joules_per_component()["cpu"].tolist(), em.duration))
    except Exception as e:  # noqa: BLE001 - reported to the parent
        q.put(("error", repr(e), None))


def test_meter_used_in_forked_child_is_right(fake_tree):
    """multiprocessing 'fork': the child's windows are measured by a meter
    of its own (the parent's sampler thread does not exist there)."""
    tree = fake_tree("intel2")
    ctx = multiprocessing.get_context("fork")
    with tree.writer():
        em = EnergyMeter(ignore_disk=True)
        window(em, 0.05)  # the parent's meter has run
        q = ctx.Queue()
        p = ctx.Process(target=_child_measures, args=(em, q))
        p.start()
        kind, cpu, dur = q.get(timeout=60)
        p.join(30)
    assert kind == "ok", cpu
    assert p.exitcode == 0
    for i, (dev, pw) in enumerate(sorted(POWERS["cpu"].items())):
        close(cpu[i], pw * dur, 0.01, pw * STALE_S, "child's %s" % dev)
    window(em, 0.05)  # the parent's meter still works


def _child_ends(em, q):
    try:
        em.end()
        q.put("ended: a wrong number")
    except EnergyMeterError as e:
        q.put("error: %s" % e)


def test_window_open_across_fork_is_an_error(fake_tree):
    tree = fake_tree("intel1")
    ctx = multiprocessing.get_context("fork")
    with tree.writer():
        em = EnergyMeter(ignore_disk=True)
        em.begin()
        q = ctx.Queue()
        p = ctx.Process(target=_child_ends, args=(em, q))
        p.start()
        got = q.get(timeout=60)
        p.join(30)
        em.end()  # the parent's window is intact
    assert got.startswith("error:") and "forked" in got, got
    assert em.duration > 0


# ----------------------------------------------------------------- plots

def test_saved_plots_are_closed_and_returned(fake_tree, tmp_path):
    import matplotlib.pyplot as plt

    tree = fake_tree("intel1")
    with tree.writer():
        em = EnergyMeter(interval_ms=50)
        window(em, 0.2)
    before = len(plt.get_fignums())
    for i in range(25):
        fig = em.plot_total_joules_per_component(filename=str(tmp_path / ("b%d.png" % i)))
        assert fig.__class__.__name__ == "Figure"
        em.plot_power_over_time(filename=str(tmp_path / ("p%d.png" % i)))
    assert len(plt.get_fignums()) == before


# --------------------------------------------------- decorator and friends

def test_measure_async_def_covers_the_await(fake_tree):
    tree = fake_tree("intel2")

    @measure(label="coro", ignore_disk=True)
    async def work(secs):
        await asyncio.sleep(secs)
        return secs

    with tree.writer():
        assert asyncio.run(work(0.4)) == 0.4
    m = work.meter
    assert m.duration >= 0.39, m.duration  # not the coroutine's creation
    check_against_truth(m)
    assert work.last is m.last


def test_measure_concurrent_tasks_each_whole(fake_tree):
    fake_tree("intel1")

    @measure(ignore_disk=True)
    async def work(secs):
        await asyncio.sleep(secs)

    async def both():
        await asyncio.gather(work(0.3), work(0.15))

    asyncio.run(both())
    durs = sorted(m.duration for m in work.meter.measurements)
    assert len(durs) == 2 and durs[0] >= 0.14 and durs[1] >= 0.29, durs


def test_measure_generator_covers_the_iteration(fake_tree):
    tree = fake_tree("intel2")

    @measure(ignore_disk=True)
    def gen(n):
        for i in range(n):
            time.sleep(0.1)
            yield i

    with tree.writer():
        g = gen(5)
        assert work_not_started(gen)
        assert list(g) == [0, 1, 2, 3, 4]
    assert gen.meter.duration >= 0.49, gen.meter.duration
    check_against_truth(gen.meter)


def work_not_started(fn):
    return fn.meter is None or fn.meter.last is None


def test_measure_generator_closed_early(fake_tree):
    fake_tree("intel1")

    @measure(ignore_disk=True)
    def gen():
        while True:
            time.sleep(0.05)
            yield 1

    g = gen()
    next(g)
    next(g)
    g.close()
    assert gen.meter.last is not None and gen.meter.duration >= 0.09
    assert gen.meter.open_windows == [] and not gen.meter.running


def test_measure_async_generator(fake_tree):
    fake_tree("intel1")

    @measure(ignore_disk=True)
    async def agen():
        for i in range(3):
            await asyncio.sleep(0.1)
            yield i

    async def consume():
        return [x async for x in agen()]

    assert asyncio.run(consume()) == [0, 1, 2]
    assert agen.meter.duration >= 0.29


def test_sync_cuda_calls_loaded_frameworks_only(fake_tree, monkeypatch):
    """sync_cuda=True synchronises every device of a framework the program
    already imported (here a stand-in torch module), at both ends of a
    window, and imports nothing itself."""
    import types

    fake_tree("intel1")
    assert "torch" not in sys.modules
    em = EnergyMeter(sync_cuda=True, ignore_disk=True)
    window(em, 0.01)
    assert "torch" not in sys.modules and "cupy" not in sys.modules and "jax" not in sys.modules

    calls = []
    cuda = types.SimpleNamespace(is_initialized=lambda: True, device_count=lambda: 2,
                                 synchronize=lambda i: calls.append(i))
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    window(em, 0.01)
    assert calls == [0, 1, 0, 1]
    cuda.is_initialized = lambda: False  # CUDA never initialised: not touched
    window(em, 0.01)
    assert calls == [0, 1, 0, 1]
    mine = []
    em2 = EnergyMeter(sync=lambda: mine.append(1), ignore_disk=True)
    window(em2, 0.01)
    assert mine == [1, 1]


def test_package_exports():
    for name in ("EnergyMeter", "EnergyMeterError", "EnergyMeterWarning", "Measurement",
                 "measure"):
        assert hasattr(energy_meter, name), name
    assert issubclass(EnergyMeterWarning, UserWarning)
    assert os.environ.get("ENERGYMETER_NVML_LIB") == NO_NVML
