"""EnergyMeterWarning: no silent zeros.

After every window, each component that is unavailable, estimated or
degraded is named in an EnergyMeterWarning (a UserWarning, issued with
warnings.warn, so ``warnings.simplefilter`` and ``-W`` filter or escalate it)
with the library's reason, and its fix written with this package's argument
names instead of the command line's flags. Once per meter per distinct
reason: a loop of a thousand windows on a machine without RAPL warns once.
"""

from __future__ import annotations

import re
import warnings
from typing import Any, Callable, Iterable, List, Match, Optional, Set, Tuple


class EnergyMeterWarning(UserWarning):
    """A component of a window was not measured as asked: unavailable (its
    value is 0 in the original API's results), estimated by a model, or
    degraded (a counter reset, a vanished zone, a gap filled by estimation).
    ``component`` and ``kind`` ("unavailable", "estimated", "degraded") say
    which; the message says why and how to fix it."""

    def __init__(self, message: str, component: Optional[str] = None,
                 kind: Optional[str] = None) -> None:
        super().__init__(message)
        self.component = component
        self.kind = kind


_CATEGORY_NAMES = ("energy_meter.EnergyMeterWarning", "energymeter.EnergyMeterWarning",
                   "energy_meter._warn.EnergyMeterWarning")
_ACTIONS = ("default", "always", "ignore", "module", "once", "error")


def apply_warnoptions(options: Iterable[str]) -> None:
    """Honour ``-W ACTION::energy_meter.EnergyMeterWarning`` (and
    PYTHONWARNINGS). CPython reads -W options before it can import a
    package from site-packages, so it says "Invalid -W option ignored" and
    drops them; the package applies them itself when it is imported."""
    for opt in options:
        parts = [p.strip() for p in opt.split(":")]
        if len(parts) < 3 or parts[2] not in _CATEGORY_NAMES or len(parts) > 5:
            continue
        parts += [""] * (5 - len(parts))
        action, message, _, module, lineno = parts
        full = [a for a in _ACTIONS if a.startswith(action or "default")]
        if len(full) != 1:
            continue
        try:
            line = int(lineno) if lineno else 0
        except ValueError:
            continue
        warnings.filterwarnings(full[0],  # type: ignore[arg-type]
                                re.escape(message), EnergyMeterWarning,
                                re.escape(module) + r"\Z" if module else "", line)


# The library's messages name the CLI's flags; Python users pass arguments.
_FLAGS: List[Tuple[str, str]] = [
    (r"--cpu-tdp(?: W| (\S+))?", "cpu_tdp_w=W"),
    (r"--cpu-idle(?: W| (\S+))?", "cpu_idle_w=W"),
    (r"--no-estimates", "no_estimates=True"),
    (r"--gpu-settle(?: (\d+))?", "gpu_settle_ms=MS"),
    (r"--gpu(?: ([\d,]+))?", "gpus=[...]"),
    (r"--disk-power(?: DEV:ACTIVE_W:IDLE_W)?", "disk_power={'DEV': (ACTIVE_W, IDLE_W)}"),
    (r"--disk-active-power", "disk_active_power=W"),
    (r"--disk-idle-power", "disk_idle_power=W"),
    (r"--disk-avg-speed", "disk_avg_speed=BYTES_PER_S"),
    (r"--ignore-disk", "ignore_disk=True"),
    (r"--no-bpf", "no_bpf=True"),
    (r"--include-idle", "include_idle=True"),
    (r"--interval(?: MS)?", "interval_ms=MS"),
]


def _python_arg(pattern: str, repl: str) -> Tuple["re.Pattern[str]", Callable[[Match[str]], str]]:
    def sub(m: Match[str]) -> str:
        value = m.group(1) if m.lastindex else None
        if not value:
            return repl
        if repl.startswith("gpus="):
            return "gpus=[%s]" % ", ".join(value.split(","))
        return repl.split("=")[0] + "=" + value
    return re.compile(pattern), sub


_SUBS = [_python_arg(p, r) for p, r in _FLAGS]


def pythonize(message: str) -> str:
    """The library's message with CLI flags replaced by EnergyMeter(...)
    arguments ("give --cpu-tdp W" -> "give cpu_tdp_w=W")."""
    for rx, sub in _SUBS:
        message = rx.sub(sub, message)
    return message


def _key(component: str, kind: str, reason: str) -> Tuple[str, str, str]:
    # Durations and counts change from window to window; the reason does not.
    return component, kind, re.sub(r"\d+(?:\.\d+)?(?:e[+-]?\d+)?", "#", reason)


class Warner:
    """The reasons a meter has already warned about."""

    def __init__(self) -> None:
        self._seen: Set[Tuple[str, str, str]] = set()
        self._seen_raw: Set[Tuple[bytes, int, bytes]] = set()

    def check(self, m: Any, stacklevel: int = 3) -> None:
        """Warn about the components of Measurement m that need it."""
        todo = m.attention()
        if not todo:
            return
        pending = []
        for x in todo:
            # Fast path: the library's very words seen before (no Python
            # objects, no regular expressions: a window's end stays cheap).
            raw = None if x.degraded else (x.name, x.status, x.reason or b"")
            if raw is not None and raw in self._seen_raw:
                continue
            c = m.components[x.name.decode("utf-8", "replace")]
            kind, reason = _describe(c, m.warnings)
            if raw is not None:
                self._seen_raw.add(raw)
            if kind is None:
                continue
            key = _key(c.name, kind, reason)
            if key in self._seen:
                continue
            self._seen.add(key)
            pending.append(EnergyMeterWarning(reason, c.name, kind))
        # Warn only after the bookkeeping: with -W error the first raises.
        for w in pending:
            warnings.warn(w, stacklevel=stacklevel)


def _describe(c: Any, report_warnings: List[str]) -> Tuple[Optional[str], str]:
    if c.status == "unavailable":
        reason = c.reason or "no reason given"
        if reason.startswith("ignored"):
            return None, ""  # the user asked for it (ignore_disk=True)
        zero = "array([0.])" if c.name in ("cpu", "dram") else "0.0"
        return "unavailable", pythonize(
            "energy_meter: %s was not measured (get_total_joules_per_component() gives %s "
            "for it; the window's value is None): %s" % (c.name, zero, reason))
    related = [w for w in report_warnings
               if w.startswith(c.name + " ") or w.startswith(c.name + ":")]
    if c.status == "estimated" and c.source == "model":
        basis = c.strings.get("model_basis") or c.strings.get("model") or "a model"
        fix = ("cpu_tdp_w=W and cpu_idle_w=W (your processor's figures) make it closer; "
               "no_estimates=True gives None instead" if c.name == "cpu"
               else "no_estimates=True gives None instead")
        return "estimated", (
            "energy_meter: %s is an estimate, not a measurement (no sensor here; model: %s; "
            "+/- %.3g J): %s" % (c.name, basis, c.uncertainty, fix))
    if c.degraded or c.status == "estimated":
        why = "; ".join(pythonize(w) for w in related) or \
            "a counter fault made part of the value an estimate"
        return "degraded", (
            "energy_meter: %s is degraded in this window (part of it estimated, +/- %.3g J): %s"
            % (c.name, c.uncertainty, why))
    return None, ""
