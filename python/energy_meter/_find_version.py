"""The package's version (energy_meter.__version__), found without importing the library.

In this order, the first that applies:

1. a checkout (python/energy_meter/ beside include/, as used in place or by an
   editable install): the public header's EM_VERSION_MAJOR/MINOR/PATCH, which
   always match the code beside them (an editable install's metadata, left in
   the tree, may be older);
2. the installed distribution's metadata (importlib.metadata "energy-meter"),
   when it describes this very copy of the package (a wheel installed by pip);
3. _version.py, written when a wheel is built (setup.py) or by `make install`;
4. "0+unknown".
"""

from __future__ import annotations

import importlib
import os
import re
from typing import Optional

_HERE = os.path.dirname(os.path.abspath(__file__))
_HEADER = os.path.join(_HERE, "..", "..", "include", "energymeter", "energymeter.h")


def _from_metadata() -> Optional[str]:
    try:
        from importlib import metadata
    except ImportError:  # Python < 3.8
        return None
    try:
        dist = metadata.distribution("energy-meter")
        mine = os.path.join(_HERE, "__init__.py")
        if os.path.samefile(str(dist.locate_file("energy_meter/__init__.py")), mine):
            return str(dist.version)
    except (metadata.PackageNotFoundError, OSError, ValueError):
        pass
    return None


def _from_header() -> Optional[str]:
    try:
        with open(_HEADER, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    parts = []
    for name in ("MAJOR", "MINOR", "PATCH"):
        m = re.search(r"^#define\s+EM_VERSION_%s\s+(\d+)\s*$" % name, text, re.M)
        if m is None:
            return None
        parts.append(str(int(m.group(1))))
    return ".".join(parts)


def _from_generated() -> Optional[str]:
    try:  # written when a wheel is built or by `make install`, so not always there
        generated = importlib.import_module("._version", __package__)
    except ImportError:
        return None
    return str(getattr(generated, "VERSION", "")) or None


VERSION: str = _from_header() or _from_metadata() or _from_generated() or "0+unknown"
