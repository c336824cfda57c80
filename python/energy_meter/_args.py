"""Checks of the EnergyMeter's arguments: the right type or a clear error.

Every check names the argument as the caller wrote it and says what it
accepts, so that a typo fails at the constructor instead of silently
measuring something else (``include_idle='no'`` is a TypeError, not True).
"""

from __future__ import annotations

import math
import numbers
import re
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple, Union

try:  # numpy's booleans are booleans too (np.bool_ is not a bool subclass)
    import numpy as _np

    _BOOL_TYPES: Tuple[type, ...] = (bool, _np.bool_)
except ImportError:  # pragma: no cover - numpy is a dependency
    _BOOL_TYPES = (bool,)

DiskPower = Union[str, Mapping[str, Tuple[float, float]]]

# The library's own grammar for per-device powers: DEV:ACTIVE_W:IDLE_W[,...].
_NUM = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_DISK_POWER_ITEM = re.compile(r"^([^:,\s]+):(%s):(%s)$" % (_NUM, _NUM))


def flag(name: str, value: Any) -> bool:
    """A True/False argument: bool (or numpy.bool_) only."""
    if isinstance(value, _BOOL_TYPES):
        return bool(value)
    raise TypeError("%s must be True or False, not %r" % (name, value))


def number(name: str, value: Any, allow_zero: bool = True) -> float:
    """A finite, non-negative real number (not a bool)."""
    if isinstance(value, _BOOL_TYPES) or not isinstance(value, numbers.Real):
        raise TypeError("%s must be a number, not %r" % (name, value))
    v = float(value)
    if not math.isfinite(v):
        raise ValueError("%s must be finite, not %r" % (name, value))
    if v < 0 or (v == 0 and not allow_zero):
        raise ValueError("%s must be %s 0, not %r" % (name, ">=" if allow_zero else ">", value))
    return v


def integer(name: str, value: Any, lo: int, hi: int, unit: str = "milliseconds") -> int:
    """An int in [lo, hi] (not a bool)."""
    if isinstance(value, _BOOL_TYPES) or not isinstance(value, numbers.Integral):
        raise TypeError("%s must be an integer number of %s, not %r" % (name, unit, value))
    v = int(value)
    if not lo <= v <= hi:
        raise ValueError("%s must be from %d to %d, not %r" % (name, lo, hi, value))
    return v


def text(name: str, value: Any, max_len: int = 4096) -> str:
    """A str without NUL (the library takes C strings: a NUL would cut it)."""
    if not isinstance(value, str):
        raise TypeError("%s must be a string, not %r" % (name, value))
    if "\0" in value:
        raise ValueError("%s must not contain NUL characters: %r" % (name, value))
    if len(value.encode("utf-8", "surrogatepass")) > max_len:
        raise ValueError("%s is longer than %d bytes" % (name, max_len))
    return value


_CONTROL = re.compile("[\x00-\x1f\x7f]")


def window_name(value: Any) -> str:
    """A window's name: non-empty, at most 255 bytes, no control characters."""
    if not isinstance(value, str):
        raise TypeError("a window's name must be a string, not %r" % (value,))
    if not value:
        raise ValueError("a window's name must not be empty")
    if len(value.encode("utf-8", "surrogatepass")) > 255:
        raise ValueError("a window's name must be at most 255 bytes: %r" % (value[:40] + "...",))
    if _CONTROL.search(value):
        raise ValueError("a window's name must not contain control characters: %r" % (value,))
    return value


def gpus(value: Any) -> Optional[str]:
    """GPU indexes (a list of ints or "0,2") as the library's "0,2"."""
    if value is None:
        return None
    if isinstance(value, str):
        items: Iterable[Any] = value.split(",")
    elif isinstance(value, numbers.Integral) and not isinstance(value, _BOOL_TYPES):
        items = [int(value)]
    else:
        try:
            items = list(value)  # type: ignore[arg-type]
        except TypeError:
            raise TypeError("gpus must be a list of GPU indexes or a string like '0,2', not %r"
                            % (value,)) from None
    idx = []
    for g in items:
        if isinstance(g, _BOOL_TYPES):
            raise TypeError("gpus must be GPU indexes, not %r" % (value,))
        s = str(g).strip()
        if not s.isdigit():
            raise ValueError("gpus must be GPU indexes (e.g. [0, 2] or '0,2'), not %r" % (value,))
        idx.append(int(s))
    if not idx or any(i > 1023 for i in idx):
        raise ValueError("gpus must be GPU indexes from 0 to 1023, not %r" % (value,))
    if len(set(idx)) != len(idx):
        raise ValueError("gpus lists a GPU twice: %r" % (value,))
    return ",".join(str(i) for i in idx)


def disk_power(value: Any) -> Optional[str]:
    """Per-device powers, {"nvme0n1": (active_w, idle_w)} or the library's
    "DEV:ACTIVE_W:IDLE_W[,...]", checked and given as the latter."""
    if value is None:
        return None
    if isinstance(value, str):
        items = [s.strip() for s in value.split(",")]
        seen = set()
        for item in items:
            m = _DISK_POWER_ITEM.match(item)
            if not m:
                raise ValueError(
                    "disk_power: %r is not DEV:ACTIVE_W:IDLE_W (for example "
                    "'nvme0n1:6:1.42', or a dict {'nvme0n1': (6, 1.42)})" % (item,))
            if m.group(1) in seen:
                raise ValueError("disk_power names %s twice" % m.group(1))
            seen.add(m.group(1))
            for w in (m.group(2), m.group(3)):
                number("the power of %s" % m.group(1), float(w))
        return ",".join(items)
    if not isinstance(value, Mapping):
        raise TypeError("disk_power must be a dict {'nvme0n1': (active_w, idle_w)} or a "
                        "string 'nvme0n1:6:1.42', not %r" % (value,))
    parts = []
    pairs: Dict[str, Tuple[float, float]] = dict(value)
    for dev, powers in pairs.items():
        if not isinstance(dev, str) or not dev or any(c in dev for c in ":, \t\0"):
            raise ValueError("disk_power: bad device name %r (a block device such as 'nvme0n1')"
                             % (dev,))
        try:
            active, idle = powers
        except (TypeError, ValueError):
            raise ValueError("disk_power[%r] must be (active_w, idle_w)" % (dev,)) from None
        parts.append("%s:%r:%r" % (dev, number("active power of %s" % dev, active),
                                   number("idle power of %s" % dev, idle)))
    if not parts:
        raise ValueError("disk_power is empty: give at least one device, or None")
    return ",".join(parts)


def choice(name: str, value: Any, allowed: Tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError("%s must be %s, not %r"
                         % (name, " or ".join(repr(a) for a in allowed), value))
    return value
