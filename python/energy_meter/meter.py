"""EnergyMeter: the original tool's API on top of libenergymeter.

Every number comes from the C library (python/energy_meter/_lib.py loads it);
this module only converts: options in, report out.
"""

import copy
import ctypes
import functools
import json
import math
import numbers
import threading
import warnings
import time

import numpy as np

from . import _lib

FIXED_COMPONENTS = ("cpu", "dram", "gpu", "disk")


class EnergyMeterError(RuntimeError):
    """An error reported by libenergymeter, with its message.

    ``code`` is the library's negative EM_ERR_* code (None when the error
    comes from the Python side, such as asking for results before end()).
    """

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


def _number(name, value, allow_zero=True):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError("%s must be a number, not %r" % (name, value))
    v = float(value)
    if not math.isfinite(v):
        raise ValueError("%s must be finite, not %r" % (name, value))
    if v < 0 or (v == 0 and not allow_zero):
        raise ValueError("%s must be %s 0, not %r" % (name, ">=" if allow_zero else ">", value))
    return v


def _nan_to_none(v):
    return None if v is None or not math.isfinite(v) else float(v)


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

    Components:

    - cpu and dram: RAPL energy counters (per package), read at begin() and
      end() and often enough in between by the library's sampler thread that
      no counter wrap is missed.
    - gpu: every NVIDIA GPU's energy counter (or integrated power), all the
      energy the GPUs drew in the window.
    - disk: block I/O measured at the device (eBPF), of this process and its
      children. **When disk_avg_speed is given, disk energy uses the original
      bytes/speed model**: active time = (bytes read + bytes written) /
      disk_avg_speed, energy = active time x disk_active_power (+ the idle
      time x disk_idle_power when include_idle is true), on the bytes
      actually transferred to and from the device. Without disk_avg_speed the
      measured busy time of the device replaces bytes / speed.

    A component without a working source reads as the original returned it
    (cpu, dram: ``array([0.0])``; gpu, disk: ``0.0``), and ``report()`` says
    why, and how to fix it.

    Parameters beyond the original (all optional):

    - ignore_disk: do not measure storage at all.
    - interval_ms: record a time series of power every interval_ms
      milliseconds (see samples() and plot_power_over_time()).
    - gpus: the GPU indexes to measure (list of ints or "0,2"); default all.
    - gpu_settle_ms: end() may wait up to this long for the GPU energy
      counter's next step, for exact short windows.
    - disk_scope: "tree" (this process and its children, default) or "system".
    - disk_time: "bytes" (the original model; the default when disk_avg_speed
      is given) or "busy" (measured busy time; the default otherwise).
    - disk_power: per-device powers, {"nvme0n1": (active_w, idle_w), ...}.
    - no_bpf: never use eBPF (fallback sources only).
    - baseline_file: the idle baseline to use (see ``energymeter calibrate``);
      by default the stored one is used when there is one (use_baseline=False:
      never). With a baseline, report() carries idle_joules and dynamic_joules.
    - no_estimates: never estimate (a component without a sensor is
      unavailable instead of modelled; estimates say status "estimated").
    - cpu_tdp_w, cpu_idle_w: the CPUs' power at full load and idle, watts,
      for the CPU model where there is no sensor (default: built-in table).

    Bad arguments raise ValueError (or TypeError for a wrong type); errors of
    the library raise EnergyMeterError with its message. One meter can
    measure many begin()/end() windows, one at a time; it is also a context
    manager (``with EnergyMeter(...) as em: ...`` measures the block).
    """

    def __init__(self, disk_avg_speed=None, disk_active_power=None, disk_idle_power=None,
                 label=None, include_idle=False, ignore_disk=False, interval_ms=None,
                 gpus=None, gpu_settle_ms=None, disk_scope=None, disk_time=None,
                 disk_power=None, no_bpf=False, no_estimates=False, cpu_tdp_w=None,
                 cpu_idle_w=None, baseline_file=None, use_baseline=True):
        self._meter = None
        self._lock = threading.RLock()
        self._running = False
        self._result = None

        if disk_avg_speed is not None:
            disk_avg_speed = _number("disk_avg_speed", disk_avg_speed, allow_zero=False)
        if disk_active_power is not None:
            disk_active_power = _number("disk_active_power", disk_active_power)
        if disk_idle_power is not None:
            disk_idle_power = _number("disk_idle_power", disk_idle_power)
        if label is not None and not isinstance(label, str):
            raise TypeError("label must be a string, not %r" % (label,))
        if interval_ms is not None:
            if isinstance(interval_ms, bool) or not isinstance(interval_ms, numbers.Integral):
                raise TypeError("interval_ms must be an integer number of milliseconds")
            if not 1 <= interval_ms <= 3600000:
                raise ValueError("interval_ms must be from 1 to 3600000, not %r" % (interval_ms,))
        gpu_list = None
        if gpus is not None:
            items = gpus.split(",") if isinstance(gpus, str) else list(gpus)
            try:
                idx = [int(str(g).strip()) for g in items]
            except ValueError:
                raise ValueError("gpus must be GPU indexes (e.g. [0, 2] or '0,2'), not %r"
                                 % (gpus,)) from None
            if not idx or any(i < 0 or i > 1023 for i in idx):
                raise ValueError("gpus must be GPU indexes from 0 to 1023, not %r" % (gpus,))
            gpu_list = ",".join(str(i) for i in idx)
        if gpu_settle_ms is not None:
            if isinstance(gpu_settle_ms, bool) or not isinstance(gpu_settle_ms, numbers.Integral):
                raise TypeError("gpu_settle_ms must be an integer number of milliseconds")
            if not 0 <= gpu_settle_ms <= 10000:
                raise ValueError("gpu_settle_ms must be from 0 to 10000, not %r"
                                 % (gpu_settle_ms,))
        scopes = {None: _lib.EM_DISK_SCOPE_TREE, "tree": _lib.EM_DISK_SCOPE_TREE,
                  "system": _lib.EM_DISK_SCOPE_SYSTEM}
        if disk_scope not in scopes:
            raise ValueError("disk_scope must be 'tree' or 'system', not %r" % (disk_scope,))
        if disk_time is None:
            disk_time = "bytes" if disk_avg_speed is not None else "busy"
        if disk_time not in ("bytes", "busy"):
            raise ValueError("disk_time must be 'bytes' or 'busy', not %r" % (disk_time,))
        if disk_time == "bytes" and disk_avg_speed is None:
            raise ValueError("disk_time='bytes' (the original model) needs disk_avg_speed")
        disk_power_s = None
        if disk_power is not None:
            if isinstance(disk_power, str):
                disk_power_s = disk_power
            else:
                parts = []
                for dev, powers in dict(disk_power).items():
                    try:
                        active, idle = powers
                    except (TypeError, ValueError):
                        raise ValueError("disk_power[%r] must be (active_w, idle_w)"
                                         % (dev,)) from None
                    if not isinstance(dev, str) or not dev or any(c in dev for c in ":,"):
                        raise ValueError("disk_power: bad device name %r" % (dev,))
                    parts.append("%s:%r:%r" % (dev, _number("active power of %s" % dev, active),
                                               _number("idle power of %s" % dev, idle)))
                disk_power_s = ",".join(parts) or None

        if cpu_tdp_w is not None:
            cpu_tdp_w = _number("cpu_tdp_w", cpu_tdp_w, allow_zero=False)
        if cpu_idle_w is not None:
            cpu_idle_w = _number("cpu_idle_w", cpu_idle_w)

        # The original's attributes.
        self.label = label if label else "Meter"
        self.include_idle = bool(include_idle)
        self.disk_avg_speed = disk_avg_speed
        self.disk_active_power = disk_active_power
        self.disk_idle_power = disk_idle_power
        self.ignore_disk = bool(ignore_disk)
        self.interval_ms = interval_ms
        self.start_time = None  # seconds since the epoch (the report's start)
        self.end_time = None
        self.duration = None  # seconds, measured on the monotonic clock

        self._libh = _lib.load()
        lib = self._libh
        opts = _lib.init_options(lib)
        opts.label = label.encode() if label else None
        opts.include_idle = 1 if include_idle else 0
        opts.disk_avg_speed = disk_avg_speed or 0.0
        opts.disk_active_power = -1.0 if disk_active_power is None else disk_active_power
        opts.disk_idle_power = -1.0 if disk_idle_power is None else disk_idle_power
        opts.interval_ms = interval_ms or 0
        opts.gpu_list = gpu_list.encode() if gpu_list else None
        if gpu_settle_ms is not None:
            opts.gpu_settle_ms = gpu_settle_ms
        opts.disk_scope = scopes[disk_scope]
        opts.disk_time = (_lib.EM_DISK_TIME_BYTES if disk_time == "bytes"
                          else _lib.EM_DISK_TIME_BUSY)
        opts.disk_power = disk_power_s.encode() if disk_power_s else None
        opts.ignore_disk = 1 if ignore_disk else 0
        opts.no_bpf = 1 if no_bpf else 0
        opts.no_estimates = 1 if no_estimates else 0
        if cpu_tdp_w is not None:
            opts.cpu_tdp_w = cpu_tdp_w
        if cpu_idle_w is not None:
            opts.cpu_idle_w = cpu_idle_w

        handle = ctypes.c_void_p()
        err = lib.em_meter_new(ctypes.byref(opts), ctypes.byref(handle))
        if err:
            # The message of a failed em_meter_new() is per thread: read it now.
            msg = _lib.decode(lib.em_meter_errmsg(None)) or _lib.decode(lib.em_strerror(err))
            if err == _lib.EM_ERR_INVALID:
                raise ValueError(msg)
            raise EnergyMeterError(msg, err)
        self._meter = handle
        self._load_baseline(baseline_file, use_baseline)

    def _load_baseline(self, path, use):
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
        warnings.warn("energy_meter: %s (ignored)" % msg)

    # ------------------------------------------------------------ life cycle
    def _check(self, err):
        if err:
            lib = self._libh
            msg = _lib.decode(lib.em_meter_errmsg(self._meter)) or ""
            if not msg:
                msg = _lib.decode(lib.em_strerror(err))
            raise EnergyMeterError(msg, err)

    def _handle(self):
        if self._meter is None:
            raise EnergyMeterError("this EnergyMeter is closed")
        return self._meter

    def begin(self):
        """Start measuring. The sources were opened by the constructor, so
        this only reads each counter once (microseconds)."""
        with self._lock:
            m = self._handle()
            if self._running:
                raise EnergyMeterError("begin() called twice without end()",
                                       _lib.EM_ERR_STATE)
            wall = time.time()
            self._check(self._libh.em_begin(m))
            self._running = True
            self.start_time = wall
            self.end_time = None
            self.duration = None

    def end(self):
        """Stop measuring and compute the results of the window."""
        with self._lock:
            m = self._handle()
            if not self._running:
                raise EnergyMeterError("end() called without begin()", _lib.EM_ERR_STATE)
            err = self._libh.em_end(m)
            self._running = False
            self._check(err)
            self._result = self._snapshot()
            self.start_time = self._result["start_time"]
            self.end_time = self._result["end_time"]
            self.duration = self._result["duration"]

    def close(self):
        """Free the library's meter (its sampler thread). Also done when the
        object is garbage-collected."""
        with self._lock:
            if self._meter is not None:
                self._libh.em_meter_free(self._meter)
                self._meter = None
                self._running = False

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        self.begin()
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._running:
            self.end()
        return False

    @property
    def running(self):
        """True between begin() and end()."""
        return self._running

    def __repr__(self):
        state = "closed" if self._meter is None else ("running" if self._running else "idle")
        return "<EnergyMeter %r %s>" % (self.label, state)

    # ------------------------------------------------------------ snapshot
    def _snapshot(self):
        """Copy everything out of the report (valid only until the next end())."""
        lib = self._libh
        r = lib.em_meter_report(self._meter)
        if not r:
            raise EnergyMeterError("the library returned no report")
        err, text = _lib.report_string(lib, r, _lib.EM_FORMAT_JSON)
        if err:
            raise EnergyMeterError(_lib.decode(lib.em_strerror(err)), err)
        rep = json.loads(text)
        comps = {}
        for c in range(lib.em_report_component_count(r)):
            name = _lib.decode(lib.em_component_name(r, c))
            status = lib.em_component_status(r, c)
            devs = [(_lib.decode(lib.em_device_name(r, c, d)), lib.em_device_joules(r, c, d))
                    for d in range(lib.em_component_device_count(r, c))]
            comps[name] = {
                "available": status != _lib.EM_STATUS_UNAVAILABLE,
                "joules": lib.em_component_joules(r, c),
                "reason": _lib.decode(lib.em_component_reason(r, c)),
                "devices": devs,
            }
        return {
            "report": rep,
            "components": comps,
            "start_time": lib.em_report_start_ns(r) / 1e9,
            "end_time": lib.em_report_end_ns(r) / 1e9,
            "duration": lib.em_report_duration_s(r),
            "samples": self._read_samples(r, rep),
        }

    def _read_samples(self, r, rep):
        lib = self._libh
        ts = rep.get("time_series")
        out = {"interval_s": None, "downsampled_by": 1, "t_s": np.zeros(0), "components": {}}
        if isinstance(ts, dict):
            out["interval_s"] = ts.get("interval_s")
            out["downsampled_by"] = ts.get("downsampled_by", 1)
        elif self.interval_ms:
            out["interval_s"] = self.interval_ms / 1000.0
        if lib.has_samples:
            n = lib.em_report_sample_count(r)
            if n == 0:
                return out
            out["t_s"] = np.array([lib.em_report_sample_time(r, i) for i in range(n)])
            for c in range(lib.em_report_component_count(r)):
                name = _lib.decode(lib.em_component_name(r, c))
                watts = np.array([lib.em_report_sample_power(r, i, c) for i in range(n)])
                devices = {}
                for d in range(lib.em_component_device_count(r, c)):
                    dname = _lib.decode(lib.em_device_name(r, c, d))
                    devices[dname] = np.array(
                        [lib.em_report_sample_device_power(r, i, c, d) for i in range(n)])
                if n and np.all(np.isnan(watts)):
                    continue  # nothing known of this component over time (as in the JSON)
                out["components"][name] = {"watts": watts, "devices": devices}
            return out
        if not isinstance(ts, dict):
            return out

        def arr(xs):
            return np.array([np.nan if x is None else float(x) for x in xs], dtype=float)

        out["t_s"] = arr(ts.get("t_s", []))
        for name, c in (ts.get("components") or {}).items():
            out["components"][name] = {
                "watts": arr(c.get("watts", [])),
                "devices": {d: arr(v) for d, v in (c.get("devices") or {}).items()},
            }
        return out

    def _done(self):
        if self._result is None:
            if self._running:
                raise EnergyMeterError("the measurement is still running: call end() first")
            raise EnergyMeterError("nothing measured yet: call begin() and end() first")
        return self._result

    # ------------------------------------------------------------- results
    def get_total_joules_per_component(self):
        """Joules of the last window, as the original returned them:
        ``{'cpu': numpy array (one value per CPU package/socket),
        'dram': numpy array (one per socket), 'gpu': float (all GPUs),
        'disk': float}``. A component without a source gives array([0.0])
        or 0.0, as the original did; report() says why."""
        comps = self._done()["components"]
        res = {}
        for name in ("cpu", "dram"):
            c = comps.get(name)
            if not c or not c["available"]:
                res[name] = np.array([0.0])
            elif c["devices"]:
                res[name] = np.array([j for _, j in c["devices"]], dtype=float)
            else:
                res[name] = np.array([c["joules"]], dtype=float)
        for name in ("gpu", "disk"):
            c = comps.get(name)
            res[name] = float(c["joules"]) if c and c["available"] else 0.0
        return res

    # The original tool's first spelling, for scripts written against it.
    get_total_jules_per_component = get_total_joules_per_component

    def joules(self, component):
        """Joules of one component of the last window (any name the report
        has: cpu, dram, gpu, disk, psys...); None when it is unavailable
        (report() says why). ValueError for a name the report does not have."""
        comps = self._done()["components"]
        if component not in comps:
            raise ValueError("unknown component %r (the report has: %s)"
                             % (component, ", ".join(comps)))
        c = comps[component]
        return float(c["joules"]) if c["available"] else None

    def total_joules(self):
        """The report's total_joules (components that are not unavailable;
        platform-wide extras such as psys are not added)."""
        return float(self._done()["report"]["total_joules"])

    def report(self):
        """The full JSON report of the last window (schema energymeter/1) as a
        dict: status, source, uncertainty, per-device values, the reason a
        component is unavailable, warnings, and time_series with interval_ms."""
        return copy.deepcopy(self._done()["report"])

    def samples(self):
        """The time series of the last window (when interval_ms was given)::

            {"interval_s": 0.1, "downsampled_by": 1,
             "t_s": array of interval ends, seconds since begin(),
             "components": {"cpu": {"watts": array,
                                    "devices": {"package-0": array, ...}}, ...}}

        watts[i] is the mean power over (t_s[i-1], t_s[i]] (t_s[-1] = 0); NaN
        where unknown. Empty (no samples) without interval_ms."""
        s = self._done()["samples"]
        return {
            "interval_s": s["interval_s"],
            "downsampled_by": s["downsampled_by"],
            "t_s": s["t_s"].copy(),
            "components": {n: {"watts": c["watts"].copy(),
                               "devices": {d: v.copy() for d, v in c["devices"].items()}}
                           for n, c in s["components"].items()},
        }

    # ------------------------------------------------------------- plots
    def plot_total_joules_per_component(self, include_total=True, filename=None):
        """Bar chart of the last window: cpu, dram, gpu, disk and (with
        include_total) total, in joules, titled with the label.

        Saved to filename when given (any format matplotlib writes: .png,
        .svg, .pdf); shown when matplotlib has an interactive backend and no
        filename is given. Returns (figure, axes)."""
        from . import _plot

        data = self.get_total_joules_per_component()
        comps = self._done()["components"]
        unavailable = [n for n in FIXED_COMPONENTS if n in comps and not comps[n]["available"]]
        return _plot.bars(data, self.label, include_total, unavailable, filename)

    plot_total_jules_per_component = plot_total_joules_per_component

    def plot_power_over_time(self, components=None, per_device=False, filename=None):
        """Power over time of the last window, one line per component (or per
        device with per_device=True), in watts. Needs interval_ms. components:
        names to draw (default all with data); ValueError for an unknown one.
        Saved to filename when given; returns (figure, axes)."""
        from . import _plot

        s = self.samples()
        comps = self._done()["components"]
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
                                   "(e.g. EnergyMeter(interval_ms=100))")
        return _plot.power(s, names, per_device, self.label, filename)


def measure(func=None, *, callback=None, **meter_kwargs):
    """Decorator: measure every call of the function.

        @measure(label="train", interval_ms=100)
        def train(): ...

        train()
        train.meter.get_total_joules_per_component()   # the last call's window

    One EnergyMeter (made with meter_kwargs, on the first call) is reused
    for every call; ``wrapper.meter`` is it. callback(meter), when given, is
    called after each measured call. A call made while the meter is already
    measuring (recursion, another thread) runs inside that window unmeasured.
    """

    def deco(fn):
        state = {"meter": None}
        lock = threading.Lock()

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with lock:
                if state["meter"] is None:
                    state["meter"] = EnergyMeter(**meter_kwargs)
                    wrapper.meter = state["meter"]
                m = state["meter"]
                busy = m.running
                if not busy:
                    m.begin()
            if busy:
                return fn(*args, **kwargs)
            try:
                return fn(*args, **kwargs)
            finally:
                with lock:
                    m.end()
                if callback is not None:
                    callback(m)

        wrapper.meter = None
        return wrapper

    if func is not None:
        if not callable(func):
            raise TypeError("measure() takes keyword arguments only (or decorates a function)")
        return deco(func)
    return deco
