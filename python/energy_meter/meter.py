"""EnergyMeter: the original tool's API on top of libenergymeter, plus named
windows.

Every number comes from the C library (python/energy_meter/_lib.py loads it);
this module only converts: arguments in, results out.
"""

from __future__ import annotations

import collections
import ctypes
import itertools
import os
import threading
import time
import warnings
import weakref
from typing import Any, Callable, Deque, Dict, List, NamedTuple, Optional, Union

import numpy as np

from . import _args, _lib
from ._result import FIXED_COMPONENTS, Measurement, original_shape
from ._sync import make_sync
from ._warn import EnergyMeterWarning, Warner

__all__ = ["EnergyMeter", "EnergyMeterError", "EnergyMeterWarning", "Measurement", "RaplResult"]


class EnergyMeterError(RuntimeError):
    """An error reported by libenergymeter, with its message.

    ``code`` is the library's negative EM_ERR_* code (None when the error
    comes from the Python side, such as asking for results before end()).
    """

    def __init__(self, message: str, code: Optional[int] = None) -> None:
        super().__init__(message)
        self.code = code


class RaplResult(NamedTuple):
    """The original's ``meter.result`` (pyRAPL's Result): label, timestamp
    (s since the epoch), duration (microseconds), pkg and dram (microjoules
    per socket; None when not measured)."""

    label: str
    timestamp: float
    duration: float
    pkg: Optional[List[float]]
    dram: Optional[List[float]]


class _RaplView:
    """``EnergyMeter.meter``: where the original kept its pyRAPL Measurement.
    ``result`` is the last window's CPU and DRAM energy in pyRAPL's units."""

    def __init__(self, em: "EnergyMeter") -> None:
        self._em = weakref.ref(em)

    @property
    def label(self) -> str:
        em = self._em()
        return em.label if em is not None else ""

    @property
    def result(self) -> Optional[RaplResult]:
        em = self._em()
        if em is None or em._last is None:
            return None
        m = em._last
        per = original_shape(m.components)

        def uj(name: str) -> Optional[List[float]]:
            c = m.components.get(name)
            return None if c is None or c.joules is None else [float(v) * 1e6 for v in per[name]]

        return RaplResult(em.label, m.start_time, m.duration * 1e6, uj("cpu"), uj("dram"))

    def begin(self) -> None:
        em = self._em()
        if em is not None:
            em.begin()

    def end(self) -> None:
        em = self._em()
        if em is not None:
            em.end()


# Every meter of this process, for the fork handler.
_METERS: "weakref.WeakSet[EnergyMeter]" = weakref.WeakSet()
_auto_names = itertools.count(1)


def _after_fork_in_child() -> None:
    for m in list(_METERS):
        m._forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class EnergyMeter:
    """Measure the energy of a piece of Python code per component.

    The original tool's API, unchanged::

        em = EnergyMeter(disk_avg_speed=1600e6, disk_active_power=6, disk_idle_power=1.42,
                         label="Test Meter", include_idle=False)
        em.begin()
        ...                                   # the code to measure
        em.end()
        em.get_total_joules_per_component()   # {'cpu': array per socket, 'dram': array per
                                              #  socket, 'gpu': float, 'disk': float}
        em.plot_total_joules_per_component()

    And named windows, nested or overlapping, any number at once on one
    meter (one sampler thread and one eBPF program per process)::

        em.begin_window("prefill")
        ...
        m = em.end_window("prefill", units=n_tokens)   # a Measurement
        m.joules_per_unit, m.components["cpu"].joules, m.report()

    Components:

    - cpu and dram: RAPL energy counters (per package), read at the window's
      ends and often enough in between by the library's sampler thread that
      no counter wrap is missed.
    - gpu: every NVIDIA GPU's energy counter (or integrated power).
    - disk: block I/O measured at the device (eBPF), of this process and its
      children. With disk_avg_speed the original bytes/speed model is used on
      the bytes actually transferred; without it the device's measured busy
      time.

    A component without a working source reads as the original returned it
    (cpu, dram: ``array([0.0])``; gpu, disk: ``0.0``), and an
    EnergyMeterWarning says why and how to fix it (once per meter and reason);
    so do estimates and degraded values. ``report()`` has every detail.

    Parameters beyond the original (all optional, keyword):

    - ignore_disk: do not measure storage at all.
    - interval_ms: record a time series of power every interval_ms ms
      (samples(), plot_power_over_time(), to_dataframe("samples")).
    - gpus: the GPU indexes to measure (list of ints or "0,2"); default all.
    - gpu_settle_ms: a window's end may wait up to this long for the GPU
      energy counter's next step, for exact short windows.
    - disk_scope: "tree" (this process and its children, default) or "system".
    - disk_time: "bytes" (the original model; the default when disk_avg_speed
      is given) or "busy" (measured busy time; the default otherwise).
    - disk_power: per-device powers, {"nvme0n1": (active_w, idle_w), ...} or
      "nvme0n1:6:1.42".
    - no_bpf: never use eBPF (fallback sources only).
    - baseline_file / use_baseline: the idle baseline (``energymeter
      calibrate``); by default the stored one when there is one.
    - no_estimates: never estimate (a component without a sensor is
      unavailable instead of modelled).
    - cpu_tdp_w, cpu_idle_w: the CPUs' power at full load and idle, watts,
      for the CPU model where there is no sensor.
    - sync_cuda: wait for the GPU work of torch, CuPy or JAX (those already
      imported) at both ends of every window; sync: a callable to call there
      instead.
    - history: how many finished windows to keep for to_dataframe().

    Bad arguments raise ValueError (or TypeError for a wrong type); errors of
    the library raise EnergyMeterError with its message. A meter is a context
    manager (``with EnergyMeter() as em: ...``); ``em.window(name)`` is one
    for a named window. A meter inherited by a forked child keeps working
    there with a sampler of its own; a window begun before the fork cannot be
    ended in the child (EnergyMeterError). Meters cannot be pickled.
    """

    # The original's implementation details, kept as names only: there is no
    # bpftrace script, subprocess or GPU polling thread here.
    SCRIPT: Optional[str] = None

    def __init__(self, disk_avg_speed: Optional[float] = None,
                 disk_active_power: Optional[float] = None,
                 disk_idle_power: Optional[float] = None, label: Optional[str] = None,
                 include_idle: bool = False, ignore_disk: bool = False, *,
                 interval_ms: Optional[int] = None,
                 gpus: Union[None, str, int, List[int]] = None,
                 gpu_settle_ms: Optional[int] = None, disk_scope: Optional[str] = None,
                 disk_time: Optional[str] = None, disk_power: Optional[_args.DiskPower] = None,
                 no_bpf: bool = False, no_estimates: bool = False,
                 cpu_tdp_w: Optional[float] = None, cpu_idle_w: Optional[float] = None,
                 baseline_file: Optional[str] = None, use_baseline: bool = True,
                 sync_cuda: bool = False, sync: Optional[Callable[[], Any]] = None,
                 history: int = 10000) -> None:
        self._meter: Optional[int] = None
        self._lock = threading.RLock()
        self._running = False
        self._last: Optional[Measurement] = None
        self._windows: Dict[str, float] = {}
        self._lost: Dict[str, int] = {}
        self._pid = os.getpid()
        self._warner = Warner()

        if disk_avg_speed is not None:
            disk_avg_speed = _args.number("disk_avg_speed", disk_avg_speed, allow_zero=False)
        if disk_active_power is not None:
            disk_active_power = _args.number("disk_active_power", disk_active_power)
        if disk_idle_power is not None:
            disk_idle_power = _args.number("disk_idle_power", disk_idle_power)
        if label is not None:
            label = _args.text("label", label)
        include_idle = _args.flag("include_idle", include_idle)
        ignore_disk = _args.flag("ignore_disk", ignore_disk)
        no_bpf = _args.flag("no_bpf", no_bpf)
        no_estimates = _args.flag("no_estimates", no_estimates)
        use_baseline = _args.flag("use_baseline", use_baseline)
        sync_cuda = _args.flag("sync_cuda", sync_cuda)
        if interval_ms is not None:
            interval_ms = _args.integer("interval_ms", interval_ms, 1, 3600000)
        gpu_list = _args.gpus(gpus)
        if gpu_settle_ms is not None:
            gpu_settle_ms = _args.integer("gpu_settle_ms", gpu_settle_ms, 0, 10000)
        scope = _args.choice("disk_scope", disk_scope or "tree", ("tree", "system"))
        if disk_time is None:
            disk_time = "bytes" if disk_avg_speed is not None else "busy"
        disk_time = _args.choice("disk_time", disk_time, ("bytes", "busy"))
        if disk_time == "bytes" and disk_avg_speed is None:
            raise ValueError("disk_time='bytes' (the original model) needs disk_avg_speed")
        disk_power_s = _args.disk_power(disk_power)
        if cpu_tdp_w is not None:
            cpu_tdp_w = _args.number("cpu_tdp_w", cpu_tdp_w, allow_zero=False)
        if cpu_idle_w is not None:
            cpu_idle_w = _args.number("cpu_idle_w", cpu_idle_w)
        if baseline_file is not None:
            baseline_file = _args.text("baseline_file", os.fspath(baseline_file))
        history = _args.integer("history", history, 0, 10 ** 9, unit="windows")
        self._sync = make_sync(sync_cuda, sync)

        # The original's attributes.
        self.label = label if label else "Meter"
        self.include_idle = include_idle
        self.disk_avg_speed = disk_avg_speed
        self.disk_active_power = disk_active_power
        self.disk_idle_power = disk_idle_power
        self.ignore_disk = ignore_disk
        self.interval_ms = interval_ms
        self.start_time: Optional[float] = None  # seconds since the epoch (the report's)
        self.end_time: Optional[float] = None
        self.duration: Optional[float] = None  # seconds, on the monotonic clock
        self.thread_gpu = None  # the original's GPU polling thread: none here
        self.bpftrace_command = None  # nor a bpftrace subprocess
        self.popen = None
        self.bpftrace_pid = None
        self.measurements: Deque[Measurement] = collections.deque(maxlen=history)

        self._libh = _lib.load()
        opts = _lib.init_options(self._libh)
        # The Options hold pointers into these bytes: keep them with the meter.
        self._keep = [s.encode() if s else None for s in (label, gpu_list, disk_power_s)]
        opts.label, opts.gpu_list, opts.disk_power = self._keep
        opts.include_idle = int(include_idle)
        opts.disk_avg_speed = disk_avg_speed or 0.0
        opts.disk_active_power = -1.0 if disk_active_power is None else disk_active_power
        opts.disk_idle_power = -1.0 if disk_idle_power is None else disk_idle_power
        opts.interval_ms = interval_ms or 0
        if gpu_settle_ms is not None:
            opts.gpu_settle_ms = gpu_settle_ms
        opts.disk_scope = (_lib.EM_DISK_SCOPE_SYSTEM if scope == "system"
                           else _lib.EM_DISK_SCOPE_TREE)
        opts.disk_time = (_lib.EM_DISK_TIME_BYTES if disk_time == "bytes"
                          else _lib.EM_DISK_TIME_BUSY)
        opts.ignore_disk = int(ignore_disk)
        opts.no_bpf = int(no_bpf)
        opts.no_estimates = int(no_estimates)
        if cpu_tdp_w is not None:
            opts.cpu_tdp_w = cpu_tdp_w
        if cpu_idle_w is not None:
            opts.cpu_idle_w = cpu_idle_w
        self._opts = opts
        self._baseline = (baseline_file, use_baseline)
        self._open()
        _METERS.add(self)

    # ------------------------------------------------------------ life cycle
    def _open(self) -> None:
        lib = self._libh
        handle = ctypes.c_void_p()
        err = lib.em_meter_new(ctypes.byref(self._opts), ctypes.byref(handle))
        if err:
            # The message of a failed em_meter_new() is per thread: read it now.
            msg = _lib.decode(lib.em_meter_errmsg(None)) or _lib.decode(lib.em_strerror(err))
            if err == _lib.EM_ERR_INVALID:
                raise ValueError(msg)
            raise EnergyMeterError(msg, err)
        self._meter = handle.value
        self._load_baseline(*self._baseline)

    def _load_baseline(self, path: Optional[str], use: bool) -> None:
        """The idle baseline `energymeter calibrate` stored, as stat uses it."""
        if path is None and not use:
            return
        lib = self._libh
        err = lib.em_meter_load_baseline(self._meter, path.encode() if path else None)
        if err == 0 or (path is None and err == _lib.EM_ERR_NOT_FOUND):
            return
        msg = _lib.decode(lib.em_meter_errmsg(self._meter)) or _lib.decode(lib.em_strerror(err))
        if path is not None:
            self.close()
            raise EnergyMeterError(msg, err)
        warnings.warn("energy_meter: %s (ignored)" % msg, EnergyMeterWarning, stacklevel=3)

    def _forked(self) -> None:
        """In a forked child: the library's meter belongs to the parent (its
        sampler thread did not survive the fork). Forget it without freeing
        it, and open a fresh one on next use."""
        self._lock = threading.RLock()
        if self._meter is None:
            return
        self._meter = None
        self._reopen = True
        parent = self._pid
        self._pid = os.getpid()
        for name in self._windows:
            self._lost[name] = parent
        if self._running:
            self._lost[""] = parent
        self._windows = {}
        self._running = False

    def _check(self, err: int) -> None:
        if err:
            lib = self._libh
            msg = _lib.decode(lib.em_meter_errmsg(self._meter)) or ""
            if not msg:
                msg = _lib.decode(lib.em_strerror(err))
            raise EnergyMeterError(msg, err)

    def _handle(self) -> int:
        if self._meter is None:
            if getattr(self, "_reopen", False):
                self._reopen = False
                self._open()  # the child's own meter, sampler and sources
            else:
                raise EnergyMeterError("this EnergyMeter is closed")
        return self._meter  # type: ignore[return-value]

    def _lost_in_fork(self, name: str, what: str) -> None:
        parent = self._lost.pop(name, None)
        if parent is not None:
            raise EnergyMeterError(
                "%s was begun in process %d, before this process was forked from it: its "
                "first readings belong to the parent. Begin a new window in this process (%d)"
                % (what, parent, os.getpid()), _lib.EM_ERR_STATE)

    def _call_sync(self) -> None:
        if self._sync is not None:
            self._sync()

    def begin(self) -> None:
        """Start measuring. The sources were opened by the constructor, so
        this only reads each counter once (microseconds)."""
        with self._lock:
            m = self._handle()
            if self._running:
                raise EnergyMeterError("begin() called twice without end()", _lib.EM_ERR_STATE)
            self._lost.pop("", None)
            self._call_sync()
            self._check(self._libh.em_begin(m))
            self._running = True
            self.start_time = time.time()
            self.end_time = None
            self.duration = None

    def end(self) -> None:
        """Stop measuring and compute the results of the window. Warns
        (EnergyMeterWarning) about every component unavailable, estimated or
        degraded, once per meter and reason."""
        with self._lock:
            self._lost_in_fork("", "the begin() window")
            m = self._handle()
            if not self._running:
                raise EnergyMeterError("end() called without begin()", _lib.EM_ERR_STATE)
            self._call_sync()
            lib = self._libh
            if not lib.has_take and self._last is not None and self._last._ptr is not None \
                    and not self._last._owned:
                self._last._release()  # an older library reuses the last report's memory
            err = lib.em_end(m)
            self._running = False
            self._check(err)
            if lib.has_take:
                r, owned = lib.em_meter_take_report(m), True
            else:
                r, owned = lib.em_meter_report(m), False
            if not r:
                raise EnergyMeterError("the library returned no report")
            self._finish(Measurement(lib, r, None, self.label, owned=owned,
                                     interval_ms=self.interval_ms))

    def _finish(self, res: Measurement) -> None:
        self._last = res
        self.measurements.append(res)
        self.start_time = res.start_time
        self.end_time = res.end_time
        self.duration = res.duration
        self._warner.check(res, stacklevel=4)

    def close(self) -> None:
        """Free the library's meter (its sampler thread, when no other meter
        of this process shares it). Also done when the object is collected."""
        with self._lock:
            if self._meter is not None:
                if self._last is not None and not self._last._owned:
                    self._last._release()
                self._libh.em_meter_free(self._meter)
                self._meter = None
                self._running = False
                self._windows = {}
            self._reopen = False

    def __del__(self) -> None:
        try:
            if getattr(self, "_pid", None) == os.getpid():
                self.close()
        except Exception:
            pass

    def __enter__(self) -> "EnergyMeter":
        self.begin()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._running:
            self.end()

    def __reduce__(self) -> Any:
        raise TypeError("an EnergyMeter cannot be pickled: it holds the library's open sensors "
                        "and sampler thread. Create an EnergyMeter in the other process (with "
                        "the same arguments); its Measurement results can be pickled")

    @property
    def total_rbytes(self) -> int:
        """Bytes read from storage devices in the last window (0 when storage
        was not measured), as the original's attribute."""
        return self._last.read_bytes if self._last is not None else 0

    @property
    def total_wbytes(self) -> int:
        """Bytes written to storage devices in the last window."""
        return self._last.write_bytes if self._last is not None else 0

    @property
    def running(self) -> bool:
        """True between begin() and end()."""
        return self._running

    @property
    def meter(self) -> _RaplView:
        """The original's pyRAPL measurement: ``meter.result`` has the last
        window's pkg and dram energy in microjoules per socket."""
        return _RaplView(self)

    def __repr__(self) -> str:
        state = "closed" if self._meter is None and not getattr(self, "_reopen", False) else (
            "running" if self._running else "idle")
        if self._windows:
            state += ", %d windows open" % len(self._windows)
        return "<EnergyMeter %r %s>" % (self.label, state)

    # ------------------------------------------------------------ windows
    def _need_windows(self) -> None:
        if not self._libh.has_windows:
            raise EnergyMeterError(
                "named windows need libenergymeter 0.2 or newer (loaded: %s from %s)"
                % (_lib.decode(self._libh.em_version()), self._libh.path))

    def begin_window(self, name: str) -> str:
        """Start a named window; any number may be open at once, nested or
        overlapping, ended in any order (from any thread). Returns name.
        EnergyMeterError when a window of that name is open."""
        _args.window_name(name)
        self._need_windows()
        with self._lock:
            m = self._handle()
            self._lost.pop(name, None)
            if name in self._windows:
                raise EnergyMeterError("a window named %r is already open: end it or cancel it "
                                       "first" % name, _lib.EM_ERR_STATE)
            self._call_sync()
            self._check(self._libh.em_window_begin(m, name.encode()))
            self._windows[name] = time.time()
        return name

    def end_window(self, name: str, units: Optional[float] = None) -> Measurement:
        """End the named window and return its Measurement. units: the work
        done in it (tokens, samples, requests): joules_per_unit is then
        total_joules / units. Warns like end()."""
        if name not in self._windows:  # an open window's name was checked by begin_window()
            _args.window_name(name)
        if units is not None:
            units = _args.number("units", units, allow_zero=False)
        self._need_windows()
        with self._lock:
            self._lost_in_fork(name, "window %r" % name)
            m = self._handle()
            if name not in self._windows:
                raise EnergyMeterError("no window named %r is open (open: %s)"
                                       % (name, ", ".join(map(repr, self._windows)) or "none"),
                                       _lib.EM_ERR_NOT_FOUND)
            self._call_sync()
            out = ctypes.c_void_p()
            err = self._libh.em_window_end(m, name.encode(), ctypes.byref(out))
            del self._windows[name]
            self._check(err)
            res = Measurement(self._libh, out.value or 0, name, self.label, units=units,
                              interval_ms=self.interval_ms)
            self._finish(res)
        return res

    def cancel_window(self, name: str) -> None:
        """Forget an open window without a result."""
        _args.window_name(name)
        self._need_windows()
        with self._lock:
            if self._lost.pop(name, None) is not None:
                return
            m = self._handle()
            if name not in self._windows:
                raise EnergyMeterError("no window named %r is open" % name,
                                       _lib.EM_ERR_NOT_FOUND)
            err = self._libh.em_window_cancel(m, name.encode())
            del self._windows[name]
            self._check(err)

    @property
    def open_windows(self) -> List[str]:
        """The names of the windows open now."""
        with self._lock:
            return list(self._windows)

    def window(self, name: Optional[str] = None, units: Optional[float] = None) -> "_Window":
        """A named window as a context manager (``with``, ``async with``)::

            with em.window("decode") as w:
                generate()
                w.units = n_tokens      # may be set inside
            w.result.joules_per_unit

        Without a name, a unique one is made. The window ends when the block
        does, also on an exception."""
        if name is None:
            name = "window-%d" % next(_auto_names)
        _args.window_name(name)
        return _Window(self, name, units)

    # ------------------------------------------------------------- results
    def _done(self) -> Measurement:
        if self._last is None:
            if self._running:
                raise EnergyMeterError("the measurement is still running: call end() first")
            raise EnergyMeterError("nothing measured yet: call begin() and end() first")
        return self._last

    @property
    def last(self) -> Optional[Measurement]:
        """The Measurement of the last window that ended (begin/end or named)."""
        return self._last

    def get_total_joules_per_component(self) -> Dict[str, Any]:
        """Joules of the last window, as the original returned them:
        ``{'cpu': numpy array (one value per CPU package/socket),
        'dram': numpy array (one per socket), 'gpu': float (all GPUs),
        'disk': float}``. A component without a source gives array([0.0])
        or 0.0, as the original did, and end() warned why."""
        return original_shape(self._done().components)

    # The original tool's first spelling, for scripts written against it.
    get_total_jules_per_component = get_total_joules_per_component

    def get_total_joules_cpu(self) -> np.ndarray:
        """CPU packages' joules of the last window, one per socket
        (array([0.]) when not measured)."""
        return self.get_total_joules_per_component()["cpu"]

    def get_total_joules_dram(self) -> np.ndarray:
        """DRAM joules of the last window, one per socket (array([0.]) when
        not measured)."""
        return self.get_total_joules_per_component()["dram"]

    def get_total_joules_gpu(self) -> float:
        """All GPUs' joules of the last window (0.0 when not measured)."""
        return self.get_total_joules_per_component()["gpu"]

    def get_total_joules_disk(self) -> float:
        """Storage joules of the last window (0.0 when not measured)."""
        return self.get_total_joules_per_component()["disk"]

    def joules(self, component: str) -> Optional[float]:
        """Joules of one component of the last window (any name the report
        has: cpu, dram, gpu, disk, psys...); None when it is unavailable.
        ValueError for a name the report does not have."""
        return self._done().joules(component)

    def status(self, component: str) -> str:
        """"measured", "estimated" or "unavailable" for a component of the
        last window."""
        return self._done().status(component)

    def total_joules(self) -> float:
        """The report's total_joules (components that are not unavailable;
        platform-wide extras such as psys are not added)."""
        return float(self._done().total_joules)

    def report(self) -> dict:
        """The full JSON report of the last window (schema energymeter/1) as a
        dict: status, source, uncertainty, per-device values, the reason a
        component is unavailable, warnings, and time_series with interval_ms."""
        with self._lock:
            return self._done().report()

    def samples(self) -> dict:
        """The time series of the last begin()/end() window (with interval_ms)::

            {"interval_s": 0.1, "downsampled_by": 1,
             "t_s": array of interval ends, seconds since begin(),
             "components": {"cpu": {"watts": array,
                                    "devices": {"package-0": array, ...}}, ...}}

        watts[i] is the mean power over (t_s[i-1], t_s[i]] (t_s[-1] = 0); NaN
        where unknown. Empty (no samples) without interval_ms."""
        with self._lock:
            s = self._done().samples()
        return {
            "interval_s": s["interval_s"],
            "downsampled_by": s["downsampled_by"],
            "t_s": s["t_s"].copy(),
            "components": {n: {"watts": c["watts"].copy(),
                               "devices": {d: v.copy() for d, v in c["devices"].items()}}
                           for n, c in s["components"].items()},
        }

    def to_dataframe(self, what: str = "windows") -> Any:
        """A pandas DataFrame (pandas is imported only here).

        what="windows": one row per finished window kept in ``measurements``
        (window name, times, joules, status and uncertainty per component, the
        total, units, joules per unit). what="samples": the last window's time
        series, one row per sample (t_s, then watts per component and device).
        """
        import pandas as pd

        what = _args.choice("what", what, ("windows", "samples"))
        if what == "windows":
            with self._lock:
                rows = [m.to_dict() for m in self.measurements]
            return pd.DataFrame(rows)
        s = self.samples()
        cols: Dict[str, Any] = {"t_s": s["t_s"]}
        for name, c in s["components"].items():
            cols["%s_watts" % name] = c["watts"]
            for dev, w in c["devices"].items():
                cols["%s_%s_watts" % (name, dev)] = w
        return pd.DataFrame(cols)

    # ------------------------------------------------------------- plots
    def plot_total_joules_per_component(self, include_total: bool = True,
                                        filename: Optional[str] = None) -> Any:
        """Bar chart of the last window: cpu, dram, gpu, disk and (with
        include_total) total, in joules, titled with the label.

        Saved to filename when given (any format matplotlib writes: .png,
        .svg, .pdf) and the figure closed; shown when matplotlib has an
        interactive backend and no filename is given. Returns the figure."""
        from . import _plot

        include_total = _args.flag("include_total", include_total)
        data = self.get_total_joules_per_component()
        comps = self._done().components
        unavailable = [n for n in FIXED_COMPONENTS if n in comps and comps[n].joules is None]
        return _plot.bars(data, self.label, include_total, unavailable, filename)

    plot_total_jules_per_component = plot_total_joules_per_component

    def plot_power_over_time(self, components: Union[None, str, List[str]] = None,
                             per_device: bool = False, filename: Optional[str] = None) -> Any:
        """Power over time of the last window, one line per component (or per
        device with per_device=True), in watts. Needs interval_ms. components:
        names to draw (default all with data); ValueError for an unknown one.
        Saved to filename when given (and closed); returns the figure."""
        from . import _plot

        per_device = _args.flag("per_device", per_device)
        s = self.samples()
        comps = self._done().components
        if components is None:
            names = list(s["components"])
        else:
            if isinstance(components, str):
                components = [components]
            names = list(components)
            for n in names:
                if n not in comps:
                    raise ValueError("unknown component %r (the report has: %s)"
                                     % (n, ", ".join(comps)))
        if len(s["t_s"]) == 0:
            raise EnergyMeterError("no time series: create the EnergyMeter with interval_ms "
                                   "(e.g. EnergyMeter(interval_ms=100)) and measure with "
                                   "begin()/end()")
        return _plot.power(s, names, per_device, self.label, filename)


class _Window:
    """``EnergyMeter.window()``: a named window as a (async) context manager."""

    def __init__(self, em: EnergyMeter, name: str, units: Optional[float]) -> None:
        self.meter = em
        self.name = name
        self.units = units
        self.result: Optional[Measurement] = None

    def __enter__(self) -> "_Window":
        self.meter.begin_window(self.name)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.result = self.meter.end_window(self.name, units=self.units)

    async def __aenter__(self) -> "_Window":
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)

    def __repr__(self) -> str:
        return "<window %r of %r%s>" % (self.name, self.meter,
                                        "" if self.result is None else ": %r" % self.result)

