"""ctypes bindings of libenergymeter (the parts the Python package uses).

The library is looked up, in this order:

1. the path in the environment variable ENERGYMETER_LIB;
2. beside this package (energy_meter/libenergymeter.so);
3. an in-tree checkout: ../../build/libenergymeter.so relative to this package
   (python/energy_meter/ -> build/);
4. the path recorded by `make install` (_install.py, when it exists);
5. the system's library path (libenergymeter.so.0, ctypes.util.find_library).

Nothing is compiled: the structure below mirrors `struct em_options` of
include/energymeter/energymeter.h field by field (tests/python checks every
offset against the C compiler's), and the library is told its size (size-first
options, so that an older or newer library can tell what it was given).
"""

import ctypes
import ctypes.util
import os
import threading
from typing import Any, List, Optional, Tuple

_HERE = os.path.dirname(os.path.abspath(__file__))

# enum em_error
EM_OK = 0
EM_ERR_INVALID = -1
EM_ERR_NOT_FOUND = -6
EM_ERR_STATE = -3

# enum em_status
EM_STATUS_MEASURED = 0
EM_STATUS_ESTIMATED = 1
EM_STATUS_UNAVAILABLE = 2

# enum em_format
EM_FORMAT_TEXT = 0
EM_FORMAT_JSON = 1
EM_FORMAT_CSV = 2
EM_FORMAT_SVG = 3
EM_FORMAT_PROMETHEUS = 4

# enum em_disk_scope, enum em_disk_time
EM_DISK_SCOPE_TREE = 0
EM_DISK_SCOPE_SYSTEM = 1
EM_DISK_TIME_BUSY = 0
EM_DISK_TIME_BYTES = 1

# typedef void (*em_log_fn)(em_log_level level, const char *message, void *userdata);
LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)


class Options(ctypes.Structure):
    """struct em_options, field for field (same order, same C types)."""

    _fields_ = [
        ("size", ctypes.c_size_t),
        ("label", ctypes.c_char_p),
        ("include_idle", ctypes.c_int),
        ("disk_avg_speed", ctypes.c_double),
        ("disk_active_power", ctypes.c_double),
        ("disk_idle_power", ctypes.c_double),
        ("interval_ms", ctypes.c_uint),
        ("log_fn", LOG_FN),
        ("log_userdata", ctypes.c_void_p),
        ("log_level", ctypes.c_int),
        # GPUs
        ("gpu_list", ctypes.c_char_p),
        ("gpu_settle_ms", ctypes.c_uint),
        # Storage
        ("disk_scope", ctypes.c_int),
        ("disk_time", ctypes.c_int),
        ("disk_power", ctypes.c_char_p),
        ("ignore_disk", ctypes.c_int),
        ("no_bpf", ctypes.c_int),
        # Estimates where no sensor exists (source "model")
        ("no_estimates", ctypes.c_int),
        ("cpu_tdp_w", ctypes.c_double),
        ("cpu_idle_w", ctypes.c_double),
    ]


class ComponentSummary(ctypes.Structure):
    """struct em_component_summary (em_report_summarize())."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("source", ctypes.c_char_p),
        ("reason", ctypes.c_char_p),
        ("joules", ctypes.c_double),
        ("uncertainty_j", ctypes.c_double),
        ("device_count", ctypes.c_size_t),
        ("status", ctypes.c_int),
        ("degraded", ctypes.c_int),
        ("in_total", ctypes.c_int),
    ]


class ReportSummary(ctypes.Structure):
    """struct em_report_summary (em_report_summarize())."""

    _fields_ = [
        ("start_ns", ctypes.c_int64),
        ("end_ns", ctypes.c_int64),
        ("duration_s", ctypes.c_double),
        ("total_joules", ctypes.c_double),
        ("component_count", ctypes.c_size_t),
        ("warning_count", ctypes.c_size_t),
    ]


class LibraryNotFound(OSError):
    """libenergymeter.so could not be found or loaded."""


def _candidates() -> Tuple[List[str], bool]:
    env = os.environ.get("ENERGYMETER_LIB")
    if env:
        # An explicit choice is the only one: silently loading another
        # library would measure with code the user did not ask for.
        return [env], True
    paths = [
        os.path.join(_HERE, "libenergymeter.so"),
        os.path.normpath(os.path.join(_HERE, "..", "..", "build", "libenergymeter.so")),
    ]
    try:
        from . import _install  # type: ignore[attr-defined]  # written by `make install`

        paths.append(_install.LIBRARY)
    except ImportError:
        pass
    paths.append("libenergymeter.so.0")
    found = ctypes.util.find_library("energymeter")
    if found:
        paths.append(found)
    return paths, False


def _sig(lib: Any, name: str, restype: Any, *argtypes: Any) -> Any:
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = list(argtypes)
    return fn


def _declare(lib: Any) -> None:
    vp, c_int, c_double, c_size_t = ctypes.c_void_p, ctypes.c_int, ctypes.c_double, ctypes.c_size_t
    c_char_p = ctypes.c_char_p
    _sig(lib, "em_version", c_char_p)
    _sig(lib, "em_strerror", c_char_p, c_int)
    _sig(lib, "em_options_init", None, vp)
    _sig(lib, "em_meter_new", c_int, ctypes.POINTER(Options), ctypes.POINTER(vp))
    _sig(lib, "em_meter_free", None, vp)
    _sig(lib, "em_meter_errmsg", c_char_p, vp)
    _sig(lib, "em_meter_load_baseline", c_int, vp, c_char_p)
    _sig(lib, "em_begin", c_int, vp)
    _sig(lib, "em_end", c_int, vp)
    _sig(lib, "em_meter_report", vp, vp)
    _sig(lib, "em_report_duration_s", c_double, vp)
    _sig(lib, "em_report_start_ns", ctypes.c_int64, vp)
    _sig(lib, "em_report_end_ns", ctypes.c_int64, vp)
    _sig(lib, "em_report_total_joules", c_double, vp)
    _sig(lib, "em_report_component_count", c_size_t, vp)
    _sig(lib, "em_report_find", c_int, vp, c_char_p)
    _sig(lib, "em_component_name", c_char_p, vp, c_size_t)
    _sig(lib, "em_component_status", c_int, vp, c_size_t)
    _sig(lib, "em_component_joules", c_double, vp, c_size_t)
    _sig(lib, "em_component_reason", c_char_p, vp, c_size_t)
    _sig(lib, "em_component_device_count", c_size_t, vp, c_size_t)
    _sig(lib, "em_device_name", c_char_p, vp, c_size_t, c_size_t)
    _sig(lib, "em_device_joules", c_double, vp, c_size_t, c_size_t)
    _sig(lib, "em_component_uncertainty", c_double, vp, c_size_t)
    _sig(lib, "em_component_source", c_char_p, vp, c_size_t)
    _sig(lib, "em_component_degraded", c_int, vp, c_size_t)
    _sig(lib, "em_component_in_total", c_int, vp, c_size_t)
    _sig(lib, "em_component_number", c_double, vp, c_size_t, c_char_p)
    _sig(lib, "em_component_string", c_char_p, vp, c_size_t, c_char_p)
    _sig(lib, "em_report_warning_count", c_size_t, vp)
    _sig(lib, "em_report_warning", c_char_p, vp, c_size_t)
    _sig(lib, "em_report_to_string", c_int, vp, c_int, ctypes.POINTER(vp))
    _sig(lib, "em_free", None, vp)
    # The time series accessors came later: a library without them simply
    # has no samples (the JSON report's "time_series" is used instead).
    try:
        _sig(lib, "em_report_sample_count", c_size_t, vp)
        _sig(lib, "em_report_sample_time", c_double, vp, c_size_t)
        _sig(lib, "em_report_sample_power", c_double, vp, c_size_t, c_size_t)
        _sig(lib, "em_report_sample_device_power", c_double, vp, c_size_t, c_size_t, c_size_t)
        lib.has_samples = True
    except AttributeError:
        lib.has_samples = False
    # Named windows (libenergymeter 0.2): without them, EnergyMeter.begin_window()
    # says the library is too old.
    try:
        _sig(lib, "em_window_begin", c_int, vp, c_char_p)
        _sig(lib, "em_window_end", c_int, vp, c_char_p, ctypes.POINTER(vp))
        _sig(lib, "em_window_split", c_int, vp, c_char_p, ctypes.POINTER(vp))
        _sig(lib, "em_window_cancel", c_int, vp, c_char_p)
        _sig(lib, "em_window_count", c_size_t, vp)
        _sig(lib, "em_report_free", None, vp)
        _sig(lib, "em_report_window", c_char_p, vp)
        lib.has_windows = True
    except AttributeError:
        lib.has_windows = False
    # One call for a window's figures, and the begin()/end() report handed over.
    try:
        _sig(lib, "em_report_summarize", c_int, vp, ctypes.POINTER(ReportSummary),
             ctypes.POINTER(ComponentSummary), c_size_t, c_size_t)
        lib.has_summary = True
    except AttributeError:
        lib.has_summary = False
    try:
        _sig(lib, "em_meter_take_report", vp, vp)
        lib.has_take = hasattr(lib, "em_report_free")
    except AttributeError:
        lib.has_take = False


_lock = threading.Lock()
_lib: Any = None


def load() -> Any:
    """The loaded library (loaded once, on first use)."""
    global _lib
    with _lock:
        if _lib is not None:
            return _lib
        paths, explicit = _candidates()
        errors = []
        for p in paths:
            if os.sep in p and not os.path.exists(p):
                errors.append("%s: no such file" % p)
                continue
            try:
                lib = ctypes.CDLL(p)
                _declare(lib)
            except (OSError, AttributeError) as e:
                errors.append("%s: %s" % (p, e))
                continue
            lib.path = p  # type: ignore[attr-defined]
            _lib = lib
            return lib
        hint = ("ENERGYMETER_LIB=%s cannot be loaded" % paths[0]) if explicit else (
            "libenergymeter.so not found; build it (`make`) or install it (`make install`), "
            "or set ENERGYMETER_LIB to its path")
        raise LibraryNotFound("%s (%s)" % (hint, "; ".join(errors)))


def decode(b: Optional[bytes]) -> Any:
    return None if b is None else b.decode("utf-8", "replace")


def options_size(lib: Any) -> int:
    """sizeof(struct em_options) in the loaded library, read from the .size
    that em_options_init() writes (into a buffer far larger than any
    version of the structure)."""
    buf = ctypes.create_string_buffer(4096)
    lib.em_options_init(ctypes.cast(buf, ctypes.c_void_p))
    return ctypes.c_size_t.from_buffer(buf).value


def init_options(lib: Any) -> Options:
    """An Options with the library's defaults and .size = sizeof(Options)."""
    buf = ctypes.create_string_buffer(4096)
    lib.em_options_init(ctypes.cast(buf, ctypes.c_void_p))
    opts = Options()
    n = min(ctypes.sizeof(Options), ctypes.c_size_t.from_buffer(buf).value)
    ctypes.memmove(ctypes.addressof(opts), buf, n)
    opts.size = ctypes.sizeof(Options)
    opts.log_fn = LOG_FN()  # type: ignore[call-overload]  # NULL: silent (or stderr when ENERGYMETER_LOG is set)
    opts.log_userdata = None
    return opts


def report_string(lib: Any, report: int, fmt: int) -> Tuple[int, Optional[str]]:
    """em_report_to_string() as a Python str."""
    out = ctypes.c_void_p()
    err = lib.em_report_to_string(report, fmt, ctypes.byref(out))
    if err:
        return err, None
    try:
        return 0, ctypes.string_at(out.value or 0).decode("utf-8", "replace")
    finally:
        lib.em_free(out)
