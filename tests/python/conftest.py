"""Shared helpers for the tests of the Python package energy_meter.

The package is imported from python/ in this checkout; it loads the library
named by $ENERGYMETER_LIB (`make pytest-python` sets it to the build's
libenergymeter.so; without it, the in-tree build/libenergymeter.so). The CLI
used for comparisons comes from $ENERGYMETER_BIN (default build/energymeter).

Every test points ENERGYMETER_SYSFS_ROOT at a fake powercap tree (or an
empty directory) and ENERGYMETER_NVML_LIB at a library that does not exist,
so nothing depends on the machine's real sensors. The library reads both
variables when a meter is created, so setting os.environ in the test process
is enough.

Run: ENERGYMETER_LIB=build/libenergymeter.so /usr/bin/python3 -m pytest tests/python

Installed mode (ENERGYMETER_TEST_INSTALLED=1, set by `make pytest-venv`): the
same tests against the package pip installed from the wheel into a virtual
environment, run with that environment's python from outside the source tree.
Then python/ is not put on sys.path, ENERGYMETER_LIB must not be set, and the
session checks first that energy_meter came from the environment and loads
the libenergymeter.so inside the installed package.
"""

import json
import os
import subprocess
import sys
import tempfile

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PYDIR = os.path.join(REPO, "python")
# Testing the package pip installed (make pytest-venv), not the checkout's.
INSTALLED = os.environ.get("ENERGYMETER_TEST_INSTALLED", "") not in ("", "0")
if not INSTALLED:
    sys.path.insert(0, PYDIR)
sys.path.insert(0, os.path.join(REPO, "tests", "fake"))

from faketree import FakeTree  # noqa: E402,F401

NO_NVML = "/nonexistent/energymeter-test/libnvidia-ml.so.1"

# No display in the tests: plots must work with Agg, as on a server.
for var in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND"):
    os.environ.pop(var, None)
os.environ.setdefault("MPLCONFIGDIR", tempfile.mkdtemp(prefix="em-mpl-"))


def em_bin():
    path = os.environ.get("ENERGYMETER_BIN") or os.path.join(REPO, "build", "energymeter")
    return os.path.abspath(path)


def lib_path():
    path = os.environ.get("ENERGYMETER_LIB") or os.path.join(REPO, "build", "libenergymeter.so")
    return os.path.abspath(path)


_installed = None


def installed_library():
    """Installed mode: the library of the installed package, after checking
    that the package is the virtual environment's and loads its own library
    (checked once; later calls return what the first found)."""
    global _installed
    if _installed:
        return _installed
    if os.environ.get("ENERGYMETER_LIB"):
        pytest.fail("ENERGYMETER_TEST_INSTALLED=1 tests the library inside the installed "
                    "package: unset ENERGYMETER_LIB (now %s)" % os.environ["ENERGYMETER_LIB"])
    import energy_meter

    pkg = os.path.dirname(os.path.realpath(energy_meter.__file__))
    if sys.prefix == sys.base_prefix:
        pytest.fail("ENERGYMETER_TEST_INSTALLED=1 needs the python of a virtual environment "
                    "(`make pytest-venv` makes one); this is %s" % sys.executable)
    if not pkg.startswith(os.path.realpath(sys.prefix) + os.sep):
        pytest.fail("energy_meter was imported from %s, not from the virtual environment %s "
                    "(PYTHONPATH=%r?)" % (pkg, sys.prefix, os.environ.get("PYTHONPATH", "")))
    path = os.path.realpath(energy_meter.library_path())
    if os.path.dirname(path) != pkg:
        pytest.fail("the installed energy_meter loaded %s, not the library inside the package "
                    "(%s)" % (path, pkg))
    _installed = path
    return path


@pytest.fixture(scope="session", autouse=True)
def library():
    if INSTALLED:
        return installed_library()
    path = lib_path()
    if not os.path.isfile(path):
        pytest.fail("libenergymeter.so not found at %s (run `make`, or set ENERGYMETER_LIB)"
                    % path)
    os.environ["ENERGYMETER_LIB"] = path
    return path


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    monkeypatch.delenv("ENERGYMETER_LOG", raising=False)
    monkeypatch.setenv("ENERGYMETER_NVML_LIB", NO_NVML)
    # Hermetic: a baseline stored on this machine must not change reports.
    monkeypatch.setenv("ENERGYMETER_BASELINE", "/nonexistent/energymeter-test/baseline.json")
    d = tempfile.mkdtemp(prefix="em-empty-")
    monkeypatch.setenv("ENERGYMETER_SYSFS_ROOT", d)
    yield
    subprocess.run(["rm", "-rf", d])


@pytest.fixture
def fake_tree(monkeypatch):
    """fake_tree(layout, **build_kw) -> FakeTree, also made the sysfs root."""
    made = []

    def make(layout="intel2", **kw):
        d = tempfile.mkdtemp(prefix="em-fake-")
        made.append(d)
        kw.setdefault("range_uj", 10_000_000)  # 10 J: counters wrap every 0.5 s at 20 W
        tree = FakeTree.build(os.path.join(d, "root"), layout, **kw)
        monkeypatch.setenv("ENERGYMETER_SYSFS_ROOT", tree.root)
        return tree

    yield make
    for d in made:
        subprocess.run(["rm", "-rf", d])


def sub_env(root, extra=None):
    """Environment for a subprocess using the package under test: this
    checkout's, or in installed mode the one sys.executable imports."""
    env = dict(os.environ)
    env["ENERGYMETER_SYSFS_ROOT"] = root
    env["ENERGYMETER_NVML_LIB"] = NO_NVML
    if INSTALLED:
        env.pop("PYTHONPATH", None)
        # As in-tree mode passes the build's library on: the installed
        # package's own (that it loads it unasked is checked in this process),
        # so that a copy of the package elsewhere still finds it.
        env["ENERGYMETER_LIB"] = installed_library()
    else:
        env["PYTHONPATH"] = PYDIR
    env.setdefault("LC_ALL", "C")
    if extra:
        env.update(extra)
    return env


def run_cli_json(tree, cmd, tmpdir, args=()):
    """`energymeter stat --json` of cmd on tree (its writer must be running)."""
    out = os.path.join(str(tmpdir), "cli.json")
    p = subprocess.run([em_bin(), "stat", "--json", "-o", out] + list(args) + ["--"] + list(cmd),
                       env=sub_env(tree.root), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    with open(out) as f:
        return json.load(f)
