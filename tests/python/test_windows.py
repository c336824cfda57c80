"""Named, nested and overlapping windows on one EnergyMeter, against the fake
tree's ground truth (intel2: packages at 20 W and 15 W, DRAM at 5 W and 4 W,
10 J counter range: every window over ~0.5 s wraps package-0's counter)."""

import os
import pickle
import threading
import time
import warnings

import pytest

from .test_energy_meter import POWERS, STALE_S, close

from energy_meter import EnergyMeter, EnergyMeterError, EnergyMeterWarning, Measurement


def truth_check(m, what):
    """Every device of a Measurement within 1 % (+ the writer's staleness) of
    P x duration, and inside its stated uncertainty."""
    for comp, devs in POWERS.items():
        c = m.components[comp]
        assert c.status == "measured" and not c.degraded, (what, c)
        for dev, p in devs.items():
            close(c.devices[dev], p * m.duration, 0.01, p * STALE_S, "%s %s %s" % (what, comp, dev))
        want = sum(devs.values()) * m.duration
        assert abs(c.joules - want) <= c.uncertainty + sum(devs.values()) * STALE_S, \
            (what, comp, c.joules, want, c.uncertainty)


@pytest.fixture
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EnergyMeterWarning)
        yield


def test_three_overlapping_windows_agree_with_truth(fake_tree, quiet):
    tree = fake_tree("intel2")
    with tree.writer():
        em = EnergyMeter(ignore_disk=True)
        em.begin_window("a")
        time.sleep(0.3)
        em.begin_window("b")
        time.sleep(0.3)
        em.begin_window("c")
        time.sleep(0.3)
        a = em.end_window("a")  # a: 0.9 s, b and c still open
        time.sleep(0.3)
        c = em.end_window("c")
        time.sleep(0.2)
        b = em.end_window("b")
    for m, lo in ((a, 0.89), (b, 1.09), (c, 0.59)):
        assert isinstance(m, Measurement) and m.duration >= lo, (m.name, m.duration)
        truth_check(m, m.name)
    assert (a.name, b.name, c.name) == ("a", "b", "c")
    assert b.start_time < c.start_time < a.end_time < c.end_time < b.end_time
    assert a.report()["window"] == "a"
    assert em.open_windows == []


def test_nested_windows_and_begin_end_together(fake_tree, quiet):
    tree = fake_tree("intel2")
    with tree.writer():
        em = EnergyMeter(ignore_disk=True)
        em.begin()
        with em.window("outer") as outer:
            time.sleep(0.2)
            with em.window("inner") as inner:
                time.sleep(0.4)
            time.sleep(0.2)
        em.end()
    truth_check(outer.result, "outer")
    truth_check(inner.result, "inner")
    assert outer.result.duration > inner.result.duration + 0.35
    # begin()/end() is a window of its own, around both.
    assert em.duration >= outer.result.duration
    assert em.last.name is None


def test_units_and_joules_per_unit(fake_tree, quiet):
    tree = fake_tree("intel2")
    with tree.writer():
        em = EnergyMeter(ignore_disk=True)
        em.begin_window("decode")
        time.sleep(0.3)
        m = em.end_window("decode", units=150)
    assert m.units == 150
    assert m.joules_per_unit == pytest.approx(m.total_joules / 150, rel=1e-12)
    with pytest.raises(ValueError):
        em.begin_window("x")
        em.end_window("x", units=0)
    em.cancel_window("x")
    with em.window("tokens") as w:
        w.units = 10
    assert w.result.units == 10


def test_window_errors(fake_tree, quiet):
    fake_tree("intel1")
    em = EnergyMeter(ignore_disk=True)
    em.begin_window("w")
    with pytest.raises(EnergyMeterError, match="already open"):
        em.begin_window("w")
    with pytest.raises(EnergyMeterError, match="no window named 'nope'"):
        em.end_window("nope")
    with pytest.raises(EnergyMeterError):
        em.cancel_window("nope")
    for bad in ("", "a\nb", "x" * 256):
        with pytest.raises(ValueError):
            em.begin_window(bad)
    with pytest.raises(TypeError):
        em.begin_window(7)
    em.cancel_window("w")
    assert em.open_windows == []
    with pytest.raises(EnergyMeterError):
        em.end_window("w")


def test_wrap_inside_one_window(fake_tree, quiet):
    """A 10 J range at 20 W wraps every 0.5 s: a 1.2 s window holds two
    wraps of package-0, and a short window inside it none."""
    tree = fake_tree("intel2")
    with tree.writer():
        em = EnergyMeter(ignore_disk=True)
        em.begin_window("long")
        time.sleep(0.1)
        em.begin_window("short")
        time.sleep(0.1)
        short = em.end_window("short")
        time.sleep(1.0)
        long_ = em.end_window("long")
    truth_check(short, "short")
    truth_check(long_, "long")
    assert long_.components["cpu"].devices["package-0"] > 20.0  # > two counter ranges


def test_vanished_zone_only_in_windows_that_contain_it(fake_tree):
    tree = fake_tree("intel2")
    em = EnergyMeter(ignore_disk=True)
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        with tree.writer() as w:
            em.begin_window("before")
            time.sleep(0.2)
            before = em.end_window("before")
            em.begin_window("across")
            w.vanish("intel-rapl:1", time.monotonic() + 0.2)
            time.sleep(0.6)
            across = em.end_window("across")
    assert not before.components["cpu"].degraded
    assert across.components["cpu"].degraded
    kinds = [(x.message.component, x.message.kind) for x in got
             if issubclass(x.category, EnergyMeterWarning)]
    assert ("cpu", "degraded") in kinds, kinds


def test_many_windows_one_sampler(fake_tree, quiet):
    """100 windows open at once cost no thread (one sampler per process) and
    no file descriptor (one set of sources)."""
    tree = fake_tree("intel2")

    def threads():
        return len(os.listdir("/proc/self/task"))

    def fds():
        return len(os.listdir("/proc/self/fd"))

    with tree.writer():
        em = EnergyMeter(ignore_disk=True)
        em.begin_window("warm")
        em.end_window("warm")
        t0, f0 = threads(), fds()
        for i in range(100):
            em.begin_window("w%d" % i)
        assert threads() == t0 and fds() == f0, (threads(), t0, fds(), f0)
        time.sleep(0.3)
        res = [em.end_window("w%d" % i) for i in range(100)]
    for m in (res[0], res[99]):
        truth_check(m, m.name)


def test_second_meter_shares_the_sources(fake_tree, quiet):
    tree = fake_tree("intel2")
    with tree.writer():
        em = EnergyMeter(ignore_disk=True)
        em.begin_window("w")
        t0 = len(os.listdir("/proc/self/task"))
        em2 = EnergyMeter(ignore_disk=True)
        em2.begin_window("w")
        assert len(os.listdir("/proc/self/task")) == t0
        truth_check(em2.end_window("w"), "second meter")
        em.end_window("w")


def test_windows_from_threads(fake_tree, quiet):
    tree = fake_tree("intel2")
    errors, results = [], []
    with tree.writer():
        em = EnergyMeter(ignore_disk=True)

        def worker(k):
            try:
                for j in range(5):
                    name = "t%d-%d" % (k, j)
                    em.begin_window(name)
                    time.sleep(0.05)
                    results.append(em.end_window(name))
            except Exception as e:  # noqa: BLE001 - asserted below
                errors.append(e)

        ts = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    assert not errors, errors
    assert len(results) == 20
    for m in results:
        assert m.components["cpu"].status == "measured"
        assert m.duration >= 0.049


def test_measurement_pickles_and_frames(fake_tree, quiet):
    tree = fake_tree("intel2")
    with tree.writer():
        em = EnergyMeter(ignore_disk=True)
        for i in range(3):
            with em.window("step-%d" % i, units=i + 1):
                time.sleep(0.05)
    m = em.last
    back = pickle.loads(pickle.dumps(m))
    assert back.total_joules == m.total_joules and back.report() == m.report()
    assert back.components["cpu"].devices == m.components["cpu"].devices
    pd = pytest.importorskip("pandas", reason="pandas (python3-pandas) is not installed")
    df = em.to_dataframe()
    assert list(df["window"]) == ["step-0", "step-1", "step-2"]
    assert list(df["units"]) == [1, 2, 3]
    assert df["cpu_joules"].min() > 0 and (df["joules_per_unit"] > 0).all()
    rows = m.to_dataframe()
    assert set(rows["component"]) >= {"cpu", "dram", "gpu", "disk"}
    assert isinstance(rows, pd.DataFrame)


def test_time_series_frame(fake_tree, quiet):
    pd = pytest.importorskip("pandas", reason="pandas (python3-pandas) is not installed")
    tree = fake_tree("intel2")
    with tree.writer():
        em = EnergyMeter(ignore_disk=True, interval_ms=50)
        em.begin()
        time.sleep(0.5)
        em.end()
    df = em.to_dataframe("samples")
    assert isinstance(df, pd.DataFrame) and 8 <= len(df) <= 12, df
    assert {"t_s", "cpu_watts", "cpu_package-0_watts", "dram_watts"} <= set(df.columns)
    assert df["cpu_package-0_watts"].median() == pytest.approx(20.0, rel=0.05)
    with pytest.raises(ValueError):
        em.to_dataframe("everything")


def _bpf_fds():
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink("/proc/self/fd/" + fd) in ("anon_inode:bpf-prog", "bpf-prog"):
                n += 1
        except OSError:
            pass
    return n


def test_named_windows_count_real_block_io(monkeypatch, tmp_path, quiet):
    """As root on this machine: two overlapping windows each count the real
    block I/O of their own span through the one eBPF program (fsync'd writes
    to a real disk; tmp_path may be tmpfs, so /var/tmp)."""
    monkeypatch.delenv("ENERGYMETER_SYSFS_ROOT")
    em = EnergyMeter()
    em.begin()
    em.end()
    disk = em.last.components["disk"]
    if disk.source != "ebpf-block":
        pytest.skip("the eBPF block source is not in use here (%s: %s)"
                    % (disk.source, disk.reason))
    path = os.path.join("/var/tmp", "em-win-%d" % os.getpid())

    def write(mib, flags):
        fd = os.open(path, flags, 0o600)
        try:
            os.write(fd, b"x" * (mib << 20))
            os.fsync(fd)
        finally:
            os.close(fd)

    try:
        em.begin_window("a")
        write(4, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        em.begin_window("b")
        write(1, os.O_WRONLY)
        a = em.end_window("a")
        b = em.end_window("b")
    finally:
        os.unlink(path)
    for m, lo, hi in ((a, 5 << 20, 6 << 20), (b, 1 << 20, 2 << 20)):
        d = m.components["disk"]
        assert d.source == "ebpf-block", (m.name, d)
        # The data, plus the filesystem's journal and metadata (well under 1 MiB).
        assert lo <= m.write_bytes < hi, (m.name, m.write_bytes)
        assert d.joules is not None and d.joules > 0, (m.name, d)


def test_one_bpf_program_for_many_windows_and_meters(monkeypatch, quiet):
    """As root on this machine: the eBPF block source is loaded once per
    process, however many windows and meters (with the same options) run."""
    monkeypatch.delenv("ENERGYMETER_SYSFS_ROOT")
    base = _bpf_fds()
    em = EnergyMeter()
    em.begin()
    em.end()
    disk = em.last.components["disk"]
    if disk.source != "ebpf-block":
        pytest.skip("the eBPF block source is not in use here (%s: %s)"
                    % (disk.source, disk.reason))
    progs = _bpf_fds() - base
    assert progs >= 1
    fds = len(os.listdir("/proc/self/fd"))
    others = [EnergyMeter() for _ in range(5)]
    for i in range(100):
        em.begin_window("w%d" % i)
    for o in others:
        o.begin_window("x")
    assert _bpf_fds() - base == progs
    assert len(os.listdir("/proc/self/fd")) == fds
    for i in range(100):
        em.end_window("w%d" % i)
    for o in others:
        assert o.end_window("x").components["disk"].source == "ebpf-block"
