"""Waiting for the GPU at a window's ends (sync_cuda=True).

GPU work is asynchronous: a window that ends while kernels are still queued
counts their energy in the next window. With ``sync_cuda=True`` the meter
waits for every device of the frameworks that are already loaded (torch,
CuPy, JAX) before each window's first and last reading. Nothing is imported
here: a framework the program has not imported is not loaded, and one whose
GPU side was never initialised is not touched (initialising CUDA would cost
seconds and memory on every device).
"""

from __future__ import annotations

import sys
from typing import Any, Callable, List, Optional


def _torch(mod: Any) -> Optional[Callable[[], None]]:
    cuda: Any = getattr(mod, "cuda", None)
    if cuda is None:
        return None

    def sync() -> None:
        is_init = getattr(cuda, "is_initialized", None)
        if is_init is not None and not is_init():
            return
        for i in range(cuda.device_count()):
            cuda.synchronize(i)
    return sync


def _cupy(mod: Any) -> Optional[Callable[[], None]]:
    cuda: Any = getattr(mod, "cuda", None)
    runtime: Any = getattr(cuda, "runtime", None) if cuda is not None else None
    if runtime is None:
        return None

    def sync() -> None:
        current = runtime.getDevice()
        try:
            for i in range(runtime.getDeviceCount()):
                runtime.setDevice(i)
                runtime.deviceSynchronize()
        finally:
            runtime.setDevice(current)
    return sync


def _jax(mod: Any) -> Optional[Callable[[], None]]:
    barrier: Any = getattr(mod, "effects_barrier", None)
    if barrier is None:
        return None

    def sync() -> None:
        barrier()
        # Queued computations: wait for a trivial one on every device.
        for dev in mod.devices():
            mod.device_put(0, dev).block_until_ready()
    return sync


_FRAMEWORKS = (("torch", _torch), ("cupy", _cupy), ("jax", _jax))


def loaded_frameworks() -> List[Callable[[], None]]:
    """A synchronising function per GPU framework already imported."""
    out = []
    for name, make in _FRAMEWORKS:
        mod = sys.modules.get(name)
        if mod is not None:
            fn = make(mod)
            if fn is not None:
                out.append(fn)
    return out


def make_sync(sync_cuda: bool, sync: Optional[Callable[[], Any]]) -> Optional[Callable[[], Any]]:
    """The function to call at each window end, or None."""
    if sync is not None:
        if not callable(sync):
            raise TypeError("sync must be a callable (called with no arguments at both ends "
                            "of every window), not %r" % (sync,))
        return sync
    if not sync_cuda:
        return None

    def sync_all() -> None:
        for fn in loaded_frameworks():
            fn()
    return sync_all
