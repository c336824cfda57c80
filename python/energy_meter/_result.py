"""What a window measured, read from a libenergymeter report.

A window's end costs one library call for the figures that every window
needs (em_report_summarize(): times, total, and each component's status,
joules and uncertainty); the components' devices, the JSON report, the time
series and the model's strings are read only when asked for. A Measurement
owns the library's report and frees it when it is garbage-collected (or
pickled: then it keeps the JSON and the figures as plain data).
"""

from __future__ import annotations

import copy
import ctypes
import json
import math
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from . import _lib
from ._warn import pythonize

STATUS_NAMES = {_lib.EM_STATUS_MEASURED: "measured", _lib.EM_STATUS_ESTIMATED: "estimated",
                _lib.EM_STATUS_UNAVAILABLE: "unavailable"}
FIXED_COMPONENTS = ("cpu", "dram", "gpu", "disk")
_SUMMARY_CAP = 8  # components read in the first call (cpu, dram, gpu, disk, psys, ...)


def _finite(v: float) -> Optional[float]:
    return float(v) if math.isfinite(v) else None


class Component:
    """One component of a window: status, joules (None when unavailable),
    uncertainty (half-width, J), source, reason (with this package's
    argument names), degraded, in_total, devices ({name: joules})."""

    __slots__ = ("name", "status", "joules", "uncertainty", "source", "raw_reason", "degraded",
                 "in_total", "_devices", "_strings", "_fetch")

    def __init__(self, name: str, status: str, joules: Optional[float],
                 uncertainty: Optional[float], source: Optional[str], reason: Optional[str],
                 degraded: bool, in_total: bool,
                 fetch: Optional[Callable[[str], Any]] = None) -> None:
        self.name = name
        self.status = status
        self.joules = joules
        self.uncertainty = uncertainty
        self.source = source
        self.raw_reason = reason  # the library's words (they name the CLI's flags)
        self.degraded = degraded
        self.in_total = in_total
        self._devices: Optional[Dict[str, float]] = None
        self._strings: Optional[Dict[str, Optional[str]]] = None
        self._fetch = fetch

    @property
    def reason(self) -> Optional[str]:
        """Why it is unavailable, and the fix, with the Python argument names."""
        return None if self.raw_reason is None else pythonize(self.raw_reason)

    @property
    def devices(self) -> Dict[str, float]:
        if self._devices is None:
            self._devices = self._fetch("devices") if self._fetch else {}
        return self._devices

    @property
    def strings(self) -> Dict[str, Optional[str]]:
        """The model's description strings (estimated components)."""
        if self._strings is None:
            self._strings = self._fetch("strings") if self._fetch else {}
        return self._strings

    def _materialize(self) -> None:
        self.devices  # noqa: B018 - read before the report goes away
        self.strings  # noqa: B018
        self._fetch = None

    def __getstate__(self) -> Dict[str, Any]:
        self._materialize()
        return {k: getattr(self, k) for k in self.__slots__ if k != "_fetch"}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)
        self._fetch = None

    def __repr__(self) -> str:
        j = "n/a" if self.joules is None else "%.6g J" % self.joules
        return "<Component %s %s %s%s>" % (self.name, self.status, j,
                                           " degraded" if self.degraded else "")


def _component_reader(lib: Any, r: int, c: int) -> Callable[[str], Any]:
    def fetch(what: str) -> Any:
        if what == "devices":
            return {_lib.decode(lib.em_device_name(r, c, d)): lib.em_device_joules(r, c, d)
                    for d in range(lib.em_component_device_count(r, c))}
        return {k: _lib.decode(lib.em_component_string(r, c, k.encode()))
                for k in ("model", "model_basis")}
    return fetch


def original_shape(components: Dict[str, Component]) -> Dict[str, Any]:
    """{'cpu': array per socket, 'dram': array per socket, 'gpu': float,
    'disk': float}, 0 for what was not measured, as the original tool."""
    res: Dict[str, Any] = {}
    for name in ("cpu", "dram"):
        c = components.get(name)
        if c is None or c.joules is None:
            res[name] = np.array([0.0])
        elif c.devices:
            res[name] = np.array(list(c.devices.values()), dtype=float)
        else:
            res[name] = np.array([c.joules], dtype=float)
    for name in ("gpu", "disk"):
        c = components.get(name)
        res[name] = float(c.joules) if c is not None and c.joules is not None else 0.0
    return res


def read_samples(lib: Any, r: int, interval_ms: Optional[int]) -> Dict[str, Any]:
    """The time series of report r as arrays (see EnergyMeter.samples())."""
    out: Dict[str, Any] = {"interval_s": interval_ms / 1000.0 if interval_ms else None,
                           "downsampled_by": 1, "t_s": np.zeros(0), "components": {}}
    n = lib.em_report_sample_count(r) if lib.has_samples else 0
    if n == 0:
        return out
    ts = report_json(lib, r).get("time_series")
    if isinstance(ts, dict):
        out["interval_s"] = ts.get("interval_s", out["interval_s"])
        out["downsampled_by"] = ts.get("downsampled_by", 1)
    out["t_s"] = np.array([lib.em_report_sample_time(r, i) for i in range(n)])
    for c in range(lib.em_report_component_count(r)):
        name = _lib.decode(lib.em_component_name(r, c))
        watts = np.array([lib.em_report_sample_power(r, i, c) for i in range(n)])
        if np.all(np.isnan(watts)):
            continue  # nothing known of this component over time (as in the JSON)
        devices = {}
        for d in range(lib.em_component_device_count(r, c)):
            dname = _lib.decode(lib.em_device_name(r, c, d))
            devices[dname] = np.array(
                [lib.em_report_sample_device_power(r, i, c, d) for i in range(n)])
        out["components"][name] = {"watts": watts, "devices": devices}
    return out


def report_json(lib: Any, r: int) -> Dict[str, Any]:
    err, text = _lib.report_string(lib, r, _lib.EM_FORMAT_JSON)
    if err or text is None:
        raise RuntimeError(_lib.decode(lib.em_strerror(err)))
    return json.loads(text)


class _Raw:
    """A component's summary as plain attributes (libraries without
    em_report_summarize(), and after the report is gone)."""

    __slots__ = ("name", "status", "degraded", "in_total", "joules", "uncertainty_j", "source",
                 "reason")
    name: Optional[bytes]
    status: int
    degraded: int
    in_total: int
    joules: float
    uncertainty_j: float
    source: Optional[bytes]
    reason: Optional[bytes]


def _summaries(lib: Any, r: int) -> tuple:
    """(report summary, [component summaries]) in one call where the library
    has em_report_summarize(), else through the single accessors."""
    if lib.has_summary:
        rs = _lib.ReportSummary()
        cap = _SUMMARY_CAP
        while True:
            comps = (_lib.ComponentSummary * cap)()
            err = lib.em_report_summarize(r, ctypes.byref(rs), comps,
                                          ctypes.sizeof(_lib.ComponentSummary), cap)
            if err:
                raise RuntimeError(_lib.decode(lib.em_strerror(err)))
            if rs.component_count <= cap:
                return rs, comps[:rs.component_count]
            cap = rs.component_count
    out = []
    for c in range(lib.em_report_component_count(r)):
        x = _Raw()
        x.name = lib.em_component_name(r, c)
        x.status = lib.em_component_status(r, c)
        x.degraded = lib.em_component_degraded(r, c)
        x.in_total = lib.em_component_in_total(r, c)
        x.joules = lib.em_component_joules(r, c)
        x.uncertainty_j = lib.em_component_uncertainty(r, c)
        x.source = lib.em_component_source(r, c)
        x.reason = lib.em_component_reason(r, c)
        out.append(x)

    class _RS:
        start_ns = lib.em_report_start_ns(r)
        end_ns = lib.em_report_end_ns(r)
        duration_s = lib.em_report_duration_s(r)
        total_joules = lib.em_report_total_joules(r)
        component_count = len(out)
        warning_count = lib.em_report_warning_count(r)
    return _RS, out


class Measurement:
    """One window's results: what ``end_window()`` returns.

    Attributes: ``name`` (None for begin()/end()), ``label``, ``start_time``
    and ``end_time`` (seconds since the epoch), ``duration`` (s),
    ``total_joules``, ``uncertainty_j`` (of the total), ``components``
    ({name: Component}), ``warnings`` (the library's), ``read_bytes`` and
    ``write_bytes`` (storage), ``units`` and ``joules_per_unit`` (when
    ``units=`` was given). ``report()`` gives the full JSON report as a dict.
    Picklable (plain data)."""

    def __init__(self, lib: Any, ptr: int, name: Optional[str], label: str,
                 units: Optional[float] = None, owned: bool = True,
                 interval_ms: Optional[int] = None) -> None:
        self._lib = lib
        self._ptr: Optional[int] = ptr
        self._owned = owned
        self._json: Optional[Dict[str, Any]] = None
        self._samples: Optional[Dict[str, Any]] = None
        self._components: Optional[Dict[str, Component]] = None
        self._warnings: Optional[List[str]] = None
        self._bytes: Optional[tuple] = None
        self._interval_ms = interval_ms
        self.name = name
        self.label = label
        self.units = units
        rs, self._raw = _summaries(lib, ptr)
        self.start_time = rs.start_ns / 1e9
        self.end_time = rs.end_ns / 1e9
        self.duration = rs.duration_s
        self.total_joules = rs.total_joules
        self._nwarnings = rs.warning_count

    def __del__(self) -> None:
        if self._owned and self._ptr is not None:
            ptr, self._ptr = self._ptr, None
            try:
                self._lib.em_report_free(ptr)
            except Exception:  # interpreter shutdown
                pass

    # ------------------------------------------------------------- lazily
    def attention(self) -> List[Any]:
        """The raw summaries of components that are not plainly measured
        (for the warnings: no Python object per component otherwise)."""
        raw = self._raw
        return [x for x in raw if x.status != 0 or x.degraded]

    @property
    def components(self) -> Dict[str, Component]:
        if self._components is None:
            self._components = self._read_components()
        return self._components

    def _read_components(self) -> Dict[str, Component]:
        out = {}
        for c, x in enumerate(self._raw):
            status = STATUS_NAMES.get(x.status, "unavailable")
            name = _lib.decode(x.name)
            unavailable = status == "unavailable"
            fetch = _component_reader(self._lib, self._ptr, c) if self._ptr else None
            out[name] = Component(
                name, status, None if unavailable else x.joules,
                None if unavailable else _finite(x.uncertainty_j), _lib.decode(x.source),
                _lib.decode(x.reason) if unavailable else None, bool(x.degraded),
                bool(x.in_total), fetch)
        return out

    @property
    def warnings(self) -> List[str]:
        """The library's warnings of the window."""
        if self._warnings is None:
            lib, r = self._lib, self._ptr
            self._warnings = [] if r is None else [
                _lib.decode(lib.em_report_warning(r, i)) for i in range(self._nwarnings)]
        return self._warnings

    def _disk_bytes(self) -> tuple:
        if self._bytes is None:
            self._bytes = (0, 0)
            disk = self.components.get("disk")
            if disk is not None and disk.joules is not None and self._ptr is not None:
                i = list(self.components).index("disk")
                got = [self._lib.em_component_number(self._ptr, i, k)
                       for k in (b"read_bytes", b"write_bytes")]
                self._bytes = tuple(int(v) if math.isfinite(v) else 0 for v in got)
        return self._bytes

    @property
    def read_bytes(self) -> int:
        """Bytes read from storage devices in the window (0 when not measured)."""
        return self._disk_bytes()[0]

    @property
    def write_bytes(self) -> int:
        """Bytes written to storage devices in the window (0 when not measured)."""
        return self._disk_bytes()[1]

    # ---------------------------------------------------------------- numbers
    @property
    def uncertainty_j(self) -> float:
        """Half-width of the interval the total lies in (the components'
        uncertainties added: the conservative sum)."""
        return float(sum(c.uncertainty or 0.0 for c in self.components.values()
                         if c.in_total and c.joules is not None))

    @property
    def joules_per_unit(self) -> Optional[float]:
        """total_joules / units (None without units)."""
        if not self.units:
            return None
        return self.total_joules / self.units

    def status(self, component: str) -> str:
        """"measured", "estimated" or "unavailable"."""
        return self._component(component).status

    def joules(self, component: str) -> Optional[float]:
        """Joules of one component (None when unavailable)."""
        return self._component(component).joules

    def _component(self, component: str) -> Component:
        try:
            return self.components[component]
        except KeyError:
            raise ValueError("unknown component %r (the report has: %s)"
                             % (component, ", ".join(self.components))) from None

    def get_total_joules_per_component(self) -> Dict[str, Any]:
        """The original tool's shape: {'cpu': array, 'dram': array, 'gpu':
        float, 'disk': float}."""
        return original_shape(self.components)

    # ----------------------------------------------------------------- report
    def _materialize(self) -> None:
        """Read everything out of the library's report."""
        for c in self.components.values():
            c._materialize()
        self.warnings  # noqa: B018
        self._disk_bytes()
        self._raw = []

    def _release(self) -> None:
        """The report is about to go away (a begin()/end() report the meter
        reuses on an older library): keep what was read, forget the rest."""
        self._materialize()
        if self._owned:
            self.__del__()
        self._ptr = None

    def report(self) -> Dict[str, Any]:
        """The window's full JSON report (schema energymeter/1) as a dict."""
        if self._json is None:
            if self._ptr is None:
                raise RuntimeError("this measurement's report is no longer available")
            self._json = report_json(self._lib, self._ptr)
        return copy.deepcopy(self._json)

    def samples(self) -> Dict[str, Any]:
        """The window's time series (see EnergyMeter.samples())."""
        if self._samples is None:
            if self._ptr is None:
                return {"interval_s": None, "downsampled_by": 1, "t_s": np.zeros(0),
                        "components": {}}
            self._samples = read_samples(self._lib, self._ptr, self._interval_ms)
        return self._samples

    def to_dict(self) -> Dict[str, Any]:
        """A flat dict: window, label, times, per-component joules, status and
        uncertainty, the total, units and joules per unit."""
        d: Dict[str, Any] = {"window": self.name, "label": self.label,
                             "start_time": self.start_time, "end_time": self.end_time,
                             "duration_s": self.duration}
        for c in self.components.values():
            d["%s_joules" % c.name] = c.joules
            d["%s_status" % c.name] = c.status
            d["%s_uncertainty_j" % c.name] = c.uncertainty
        d["total_joules"] = self.total_joules
        d["uncertainty_j"] = self.uncertainty_j
        d["units"] = self.units
        d["joules_per_unit"] = self.joules_per_unit
        return d

    def to_dataframe(self) -> Any:
        """One row per component and device (pandas, imported only here)."""
        import pandas as pd

        rows = []
        for c in self.components.values():
            devs: Dict[Optional[str], Optional[float]] = {}
            for dname, dj in c.devices.items():
                devs[dname] = dj
            if not devs:
                devs[None] = c.joules
            for dev, j in devs.items():
                rows.append({"window": self.name, "component": c.name, "device": dev,
                             "joules": j if c.joules is not None else None,
                             "status": c.status, "source": c.source,
                             "degraded": c.degraded, "uncertainty_j": c.uncertainty})
        return pd.DataFrame(rows)

    def __getstate__(self) -> Dict[str, Any]:
        if self._ptr is not None:
            self.report()
            self.samples()
        self._materialize()
        return {k: v for k, v in self.__dict__.items()
                if k not in ("_lib", "_ptr", "_raw")}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lib = None
        self._ptr = None
        self._owned = False
        self._raw = []

    def __repr__(self) -> str:
        extra = ""
        jpu = self.joules_per_unit
        if jpu is not None:
            extra = ", %.6g J/unit" % jpu
        return "<Measurement %r %.3f s, %.6g J%s>" % (self.name, self.duration,
                                                       self.total_joules, extra)
