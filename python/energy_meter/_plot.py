"""Plots of a measurement (matplotlib, imported only here, only when plotting).

Without a display (no DISPLAY or WAYLAND_DISPLAY) and without a backend chosen
by the user (MPLBACKEND, or pyplot already imported), the Agg backend is used,
so that plotting on a server writes files instead of failing or warning.
"""

import os
import sys

from typing import Any, Dict, List, Optional

import numpy as np

COLORS = {"cpu": "#1f77b4", "dram": "#ff7f0e", "gpu": "#2ca02c", "disk": "#9467bd",
          "total": "#555555"}


def _pyplot() -> Any:
    import matplotlib

    if ("matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND")
            and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _finish(plt: Any, fig: Any, filename: Optional[str]) -> None:
    """Save (and close: a loop of saved plots must not pile up open figures)
    or show the figure."""
    if filename is not None:
        try:
            fig.savefig(os.fspath(filename), bbox_inches="tight")
        finally:
            plt.close(fig)
        return
    import matplotlib

    backend = matplotlib.get_backend().lower()
    # Agg and the other file backends cannot show anything (show() would only warn).
    if backend not in ("agg", "pdf", "ps", "svg", "cairo", "pgf", "template") and \
            not backend.startswith("module://matplotlib_inline"):
        plt.show()


def bars(data: Dict[str, Any], label: str, include_total: bool, unavailable: List[str],
         filename: Optional[str]) -> Any:
    plt = _pyplot()
    names = ["cpu", "dram", "gpu", "disk"]
    values = [float(np.sum(data["cpu"])), float(np.sum(data["dram"])), float(data["gpu"]),
              float(data["disk"])]
    if include_total:
        names.append("total")
        values.append(sum(values))
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    bars_ = ax.bar(names, values, color=[COLORS[n] for n in names])
    top = max(values) if values and max(values) > 0 else 1.0
    for name, bar, v in zip(names, bars_, values):
        text = "n/a" if name in unavailable else "%.3g J" % v
        ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    xytext=(0, 3), textcoords="offset points", ha="center", va="bottom",
                    fontsize=9)
    ax.set_ylim(0, top * 1.15)
    ax.set_xlabel("Component")
    ax.set_ylabel("Energy (J)")
    ax.set_title(label)
    if unavailable:
        ax.text(0.99, 0.98, "n/a: not measured here (see report())", transform=ax.transAxes,
                ha="right", va="top", fontsize=8, color="#777777")
    _finish(plt, fig, filename)
    return fig


def power(samples: Dict[str, Any], names: List[str], per_device: bool, label: str,
          filename: Optional[str]) -> Any:
    plt = _pyplot()
    t = samples["t_s"]
    edges = np.concatenate([[0.0], t])
    fig, ax = plt.subplots(figsize=(8, 4.8))
    drawn = 0
    for name in names:
        c = samples["components"].get(name)
        if c is None:
            continue
        if per_device and c["devices"]:
            for dev, w in c["devices"].items():
                ax.stairs(w, edges, label="%s %s" % (name, dev), linewidth=1.5)
                drawn += 1
        else:
            ax.stairs(c["watts"], edges, label=name, color=COLORS.get(name), linewidth=1.5)
            drawn += 1
    ax.set_xlim(0, edges[-1] if len(edges) > 1 else 1)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("Time since begin() (s)")
    ax.set_ylabel("Power (W)")
    ax.set_title("%s: power over time" % label)
    if drawn:
        ax.legend(loc="best")
    ax.grid(True, alpha=0.3)
    _finish(plt, fig, filename)
    return fig
