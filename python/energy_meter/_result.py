"""What a window measured, read from a libenergymeter report.

The numbers are read once through the report's accessors (a few ctypes calls
per component: no JSON is written or parsed at the window's end); the full
JSON report, the time series and the model's strings are read only when
asked for. A Measurement owns the library's report of a named window and
frees it when it is garbage-collected (or pickled: then it keeps the JSON).
"""

from __future__ import annotations

import copy
import json
import math
import weakref
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from . import _lib
from ._warn import pythonize

STATUS_NAMES = {_lib.EM_STATUS_MEASURED: "measured", _lib.EM_STATUS_ESTIMATED: "estimated",
                _lib.EM_STATUS_UNAVAILABLE: "unavailable"}
FIXED_COMPONENTS = ("cpu", "dram", "gpu", "disk")


def _finite(v: float) -> Optional[float]:
    return float(v) if math.isfinite(v) else None


class Component:
    """One component of a window: status, joules (None when unavailable),
    uncertainty (half-width, J), source, reason, degraded, devices."""

    __slots__ = ("name", "status", "joules", "uncertainty", "source", "reason", "degraded",
                 "in_total", "devices", "_strings", "_fetch")

    def __init__(self, name: str, status: str, joules: Optional[float],
                 uncertainty: Optional[float], source: Optional[str], reason: Optional[str],
                 degraded: bool, in_total: bool, devices: Dict[str, float],
                 fetch: Optional[Callable[[str], Optional[str]]] = None) -> None:
        self.name = name
        self.status = status
        self.joules = joules
        self.uncertainty = uncertainty
        self.source = source
        self.reason = reason
        self.degraded = degraded
        self.in_total = in_total
        self.devices = devices
        self._strings: Dict[str, Optional[str]] = {}
        self._fetch = fetch

    @property
    def strings(self) -> Dict[str, Optional[str]]:
        """The model's description strings (estimated components)."""
        if self._fetch is not None:
            for key in ("model", "model_basis"):
                self._strings[key] = self._fetch(key)
            self._fetch = None
        return self._strings

    def __getstate__(self):
        self.strings  # noqa: B018 - read them before the report goes away
        return {k: getattr(self, k) for k in self.__slots__ if k != "_fetch"}

    def __setstate__(self, state):
        for k, v in state.items():
            setattr(self, k, v)
        self._fetch = None

    def __repr__(self) -> str:
        j = "n/a" if self.joules is None else "%.6g J" % self.joules
        return "<Component %s %s %s%s>" % (self.name, self.status, j,
                                           " degraded" if self.degraded else "")


def read_components(lib, r) -> List[Component]:
    """Every component of report r, in the report's order."""
    out = []
    for c in range(lib.em_report_component_count(r)):
        status = STATUS_NAMES.get(lib.em_component_status(r, c), "unavailable")
        name = _lib.decode(lib.em_component_name(r, c))
        devices = {}
        for d in range(lib.em_component_device_count(r, c)):
            devices[_lib.decode(lib.em_device_name(r, c, d))] = lib.em_device_joules(r, c, d)
        unavailable = status == "unavailable"

        def fetch(key, _c=c):
            return _lib.decode(lib.em_component_string(r, _c, key.encode()))

        out.append(Component(
            name, status,
            None if unavailable else lib.em_component_joules(r, c),
            None if unavailable else _finite(lib.em_component_uncertainty(r, c)),
            _lib.decode(lib.em_component_source(r, c)),
            pythonize(_lib.decode(lib.em_component_reason(r, c)) or "") if unavailable else None,
            bool(lib.em_component_degraded(r, c)), bool(lib.em_component_in_total(r, c)),
            devices, fetch if status == "estimated" else None))
    return out


def read_warnings(lib, r) -> List[str]:
    return [_lib.decode(lib.em_report_warning(r, i)) for i in range(lib.em_report_warning_count(r))]


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


def read_samples(lib, r, interval_ms: Optional[int], rep: Optional[dict] = None) -> dict:
    """The time series of report r as arrays (see EnergyMeter.samples())."""
    out: Dict[str, Any] = {"interval_s": interval_ms / 1000.0 if interval_ms else None,
                           "downsampled_by": 1, "t_s": np.zeros(0), "components": {}}
    n = lib.em_report_sample_count(r) if lib.has_samples else 0
    if n == 0:
        return out
    if rep is None:
        rep = report_json(lib, r)
    ts = rep.get("time_series")
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


def report_json(lib, r) -> dict:
    err, text = _lib.report_string(lib, r, _lib.EM_FORMAT_JSON)
    if err:
        raise RuntimeError(_lib.decode(lib.em_strerror(err)))
    return json.loads(text)


def _free_report(lib, ptr: int) -> None:
    lib.em_report_free(ptr)


class Measurement:
    """One window's results: what ``end_window()`` returns.

    Attributes: ``name``, ``label``, ``start_time`` and ``end_time`` (seconds
    since the epoch), ``duration`` (s), ``components`` ({name: Component}),
    ``total_joules``, ``uncertainty_j`` (of the total), ``warnings`` (the
    library's), ``units`` and ``joules_per_unit`` (when ``units=`` was given).
    ``report()`` gives the full JSON report as a dict. Picklable (plain data)."""

    def __init__(self, lib, ptr: int, name: Optional[str], label: str,
                 units: Optional[float] = None, owned: bool = True,
                 interval_ms: Optional[int] = None) -> None:
        self._lib = lib
        self._ptr: Optional[int] = ptr
        self._json: Optional[dict] = None
        self._samples: Optional[dict] = None
        self._interval_ms = interval_ms
        self.name = name
        self.label = label
        self.start_time = lib.em_report_start_ns(ptr) / 1e9
        self.end_time = lib.em_report_end_ns(ptr) / 1e9
        self.duration = lib.em_report_duration_s(ptr)
        self.total_joules = lib.em_report_total_joules(ptr)
        self.components: Dict[str, Component] = {c.name: c for c in read_components(lib, ptr)}
        self.warnings = read_warnings(lib, ptr)
        self.read_bytes = self.write_bytes = 0
        disk = self.components.get("disk")
        if disk is not None and disk.joules is not None:
            i = list(self.components).index("disk")
            rb, wb = (lib.em_component_number(ptr, i, k) for k in (b"read_bytes", b"write_bytes"))
            self.read_bytes = int(rb) if math.isfinite(rb) else 0
            self.write_bytes = int(wb) if math.isfinite(wb) else 0
        self.units = units
        if owned:
            self._finalizer = weakref.finalize(self, _free_report, lib, ptr)
        else:
            self._finalizer = None

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
    def _release(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        self._ptr = None

    def report(self) -> dict:
        """The window's full JSON report (schema energymeter/1) as a dict."""
        if self._json is None:
            if self._ptr is None:
                raise RuntimeError("this measurement's report is no longer available")
            self._json = report_json(self._lib, self._ptr)
        return copy.deepcopy(self._json)

    def samples(self) -> dict:
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

    def to_dataframe(self):
        """One row per component and device (pandas, imported only here)."""
        import pandas as pd

        rows = []
        for c in self.components.values():
            devs = c.devices or {None: c.joules}
            for dev, j in devs.items():
                rows.append({"window": self.name, "component": c.name, "device": dev,
                             "joules": j if c.joules is not None else None,
                             "status": c.status, "source": c.source,
                             "degraded": c.degraded, "uncertainty_j": c.uncertainty})
        return pd.DataFrame(rows)

    def __getstate__(self):
        self.report()
        self.samples()
        state = {k: v for k, v in self.__dict__.items() if k not in ("_lib", "_ptr",
                                                                       "_finalizer")}
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lib = None
        self._ptr = None
        self._finalizer = None

    def __repr__(self) -> str:
        extra = ""
        if self.units:
            extra = ", %.6g J/unit" % self.joules_per_unit
        return "<Measurement %r %.3f s, %.6g J%s>" % (self.name, self.duration,
                                                       self.total_joules, extra)

