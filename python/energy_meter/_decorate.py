"""@measure: the energy of every call of a function.

Plain functions, ``async def`` coroutines, generators and async generators
are each measured over what they really do: a coroutine from its first step
to its return (not its creation), a generator from its first ``next()`` to
its exhaustion or close. Each call is a window of its own on one shared
meter (named windows: concurrent calls from threads or asyncio tasks are
each measured whole); a call made inside another call of the same function
(recursion) runs inside that window, unmeasured.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import itertools
import threading
from typing import Any, Callable, Dict, Optional, Tuple, TypeVar

from .meter import EnergyMeter

F = TypeVar("F", bound=Callable[..., Any])
_calls = itertools.count(1)


def measure(func: Optional[F] = None, *, callback: Optional[Callable[[EnergyMeter], Any]] = None,
            **meter_kwargs: Any) -> Any:
    """Decorator: measure every call of the function.

        @measure(label="train", interval_ms=100)
        def train(): ...

        train()
        train.meter.get_total_joules_per_component()   # the last call's window
        train.last                                      # its Measurement

    One EnergyMeter (made with meter_kwargs on the first call) serves every
    call; ``wrapper.meter`` is it. callback(meter), when given, is called
    after each measured call. Works on ``async def`` functions, generators
    and async generators too.
    """

    def deco(fn: F) -> F:
        state: Dict[str, Any] = {"meter": None}
        lock = threading.Lock()
        active: contextvars.ContextVar[bool] = contextvars.ContextVar("energy_meter_active",
                                                                       default=False)

        def meter() -> Any:
            with lock:
                if state["meter"] is None:
                    state["meter"] = EnergyMeter(**meter_kwargs)
                    wrapper.meter = state["meter"]  # type: ignore[attr-defined]
                return state["meter"]

        def start() -> Optional[Tuple[Any, Optional[str]]]:
            """A token for stop(), or None when this call is nested."""
            if active.get():
                return None
            m = meter()
            if m._libh.has_windows:
                name = "%s#%d" % (getattr(fn, "__qualname__", "call"), next(_calls))
                m.begin_window(name)
            else:  # an old library: one window at a time, others unmeasured
                with lock:
                    if m.running:
                        return None
                    name = None
                    m.begin()
            return active.set(True), name

        def stop(started: Optional[Tuple[Any, Optional[str]]]) -> None:
            if started is None:
                return
            token, name = started
            m = state["meter"]
            try:
                if name is None:
                    m.end()
                else:
                    m.end_window(name)
            finally:
                try:
                    active.reset(token)
                except ValueError:  # a generator resumed in another context
                    active.set(False)
            wrapper.last = m.last  # type: ignore[attr-defined]
            if callback is not None:
                callback(m)

        wrapper: Any
        if inspect.isasyncgenfunction(fn):
            @functools.wraps(fn)
            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                started = start()
                try:
                    async for item in fn(*args, **kwargs):
                        yield item
                finally:
                    stop(started)
        elif inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                started = start()
                try:
                    return await fn(*args, **kwargs)
                finally:
                    stop(started)
        elif inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                started = start()
                try:
                    return (yield from fn(*args, **kwargs))
                finally:
                    stop(started)
        else:
            @functools.wraps(fn)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                started = start()
                try:
                    return fn(*args, **kwargs)
                finally:
                    stop(started)

        wrapper.meter = None  # type: ignore[attr-defined]
        wrapper.last = None  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    if func is not None:
        if not callable(func):
            raise TypeError("measure() takes keyword arguments only (or decorates a function)")
        return deco(func)
    return deco
