"""Packaging: the distribution energy-meter (pyproject.toml, setup.py, MANIFEST.in).

In both modes: one version (the header's EM_VERSION_*, the loaded library's
em_version(), energy_meter.__version__) and the alias package energymeter.

Installed mode only (`make pytest-venv`, ENERGYMETER_TEST_INSTALLED=1: the
wheel pip installed into a virtual environment): the metadata pip and
importlib.metadata see, the files the wheel installed, and, once per run,
sdist -> wheel built from the sdist alone -> editable install, each used
from outside the source tree.
"""

import glob
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest

from .conftest import INSTALLED, REPO

import energy_meter

installed_only = pytest.mark.skipif(not INSTALLED, reason="installed mode only "
                                    "(make pytest-venv, ENERGYMETER_TEST_INSTALLED=1)")
HEADER = os.path.join(REPO, "include", "energymeter", "energymeter.h")


def header_version():
    with open(HEADER) as f:
        text = f.read()
    return ".".join(re.search(r"^#define\s+EM_VERSION_%s\s+(\d+)\s*$" % n, text, re.M).group(1)
                    for n in ("MAJOR", "MINOR", "PATCH"))


def test_one_version():
    assert energy_meter.__version__ == header_version() == energy_meter.library_version()


def test_energymeter_is_an_alias():
    import energymeter
    from energymeter import EnergyMeter

    assert EnergyMeter is energy_meter.EnergyMeter
    assert energymeter.__version__ == energy_meter.__version__
    assert energymeter.__all__ == energy_meter.__all__
    assert energymeter.measure is energy_meter.measure


# ------------------------------------------------------ the installed wheel

def dist():
    from importlib import metadata

    return metadata.distribution("energy-meter")


@installed_only
def test_metadata():
    from importlib import metadata

    assert metadata.version("energy-meter") == energy_meter.library_version()
    md = dist().metadata
    assert md["Name"] == "energy-meter"
    # What pip cannot install is said where users read: the summary and the description.
    for lib in ("libbpf", "libelf", "zlib", "libcjson"):
        assert lib in md["Summary"], md["Summary"]
        assert lib in md.get_payload(), lib
    assert "numpy" in (md.get_all("Requires-Dist") or [])


@installed_only
def test_pip_show():
    p = subprocess.run([sys.executable, "-m", "pip", "show", "energy-meter"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "Name: energy-meter" in p.stdout
    assert "Version: %s" % header_version() in p.stdout


@installed_only
def test_installed_files():
    d = dist()
    files = {str(f) for f in d.files}
    for f in ("energy_meter/__init__.py", "energy_meter/libenergymeter.so",
              "energy_meter/py.typed", "energy_meter/_version.py", "energymeter/__init__.py",
              "energymeter/py.typed"):
        assert f in files, (f, sorted(files))
    pkg = os.path.dirname(os.path.realpath(energy_meter.__file__))
    assert os.path.isfile(os.path.join(pkg, "py.typed"))
    assert os.path.realpath(energy_meter.library_path()) == os.path.join(pkg, "libenergymeter.so")
    wheel = d.read_text("WHEEL")
    assert "Root-Is-Purelib: false" in wheel, wheel
    tags = re.findall(r"^Tag: (\S+)$", wheel, re.M)
    assert tags and all(t.startswith("py3-none-linux_") for t in tags), wheel


# ------------------------------------- sdist -> wheel -> editable, once

def clean_env():
    """A build environment without this run's choices (the wheel's prebuilt
    library, the library or packages under test, the make that runs us)."""
    env = dict(os.environ)
    for var in ("ENERGYMETER_PREBUILT_LIB", "ENERGYMETER_LIB", "PYTHONPATH", "MAKEFLAGS",
                "MFLAGS", "MAKELEVEL"):
        env.pop(var, None)
    return env


def run(cmd, cwd, env=None, timeout=300):
    p = subprocess.run(cmd, cwd=cwd, env=env or clean_env(), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=timeout)
    assert p.returncode == 0, "%s\n%s" % (" ".join(cmd), p.stdout[-6000:])
    return p.stdout


# What building the library needs, and what must never be shipped.
SDIST_NEEDS = ["Makefile", "mk/bpf.mk", "mk/nvml.mk", "mk/python.mk", "src/libenergymeter.map",
               "src/sources/disk/bpf/blkio.bpf.c", "include/energymeter/energymeter.h",
               "setup.py", "pyproject.toml", "MANIFEST.in", "docs/python.md",
               "python/energy_meter/__init__.py", "python/energy_meter/_lib.py",
               "python/energy_meter/py.typed", "python/energymeter/__init__.py"]


def bpf_buildable():
    return (os.path.exists("/sys/kernel/btf/vmlinux") and shutil.which("clang")
            and (shutil.which("bpftool") or os.path.exists("/usr/sbin/bpftool"))
            and os.path.exists("/usr/include/bpf/libbpf.h"))


@installed_only
def test_sdist_builds_a_wheel_and_an_editable_install(tmp_path):
    if not shutil.which("make") or not (shutil.which("cc") or shutil.which("gcc")):
        pytest.skip("no make or C compiler")
    py = sys.executable
    version = header_version()
    # 1. The sdist, from the checkout.
    run([py, "-m", "build", "--no-isolation", "--sdist", "--outdir", str(tmp_path / "sdist"),
         REPO], cwd=str(tmp_path))
    (sdist,) = glob.glob(str(tmp_path / "sdist" / "*.tar.gz"))
    assert os.path.basename(sdist) == "energy-meter-%s.tar.gz" % version
    top = "energy-meter-%s" % version
    with tarfile.open(sdist) as t:
        names = {n[len(top) + 1:] for n in t.getnames() if n.startswith(top + "/")}
        t.extractall(str(tmp_path / "src"))
    for f in SDIST_NEEDS:
        assert f in names, f
    shipped = [n for n in names if n.endswith((".so", ".o", ".pyc", "/_version.py"))
               or n.startswith(("tests/", "build/"))]
    assert not shipped, shipped
    src = tmp_path / "src" / top

    # 2. A wheel from the sdist alone: the library built by its Makefile.
    out = run([py, "-m", "build", "--no-isolation", "--wheel", "--outdir",
               str(tmp_path / "wheel"), str(src)], cwd=str(tmp_path))
    (whl,) = glob.glob(str(tmp_path / "wheel" / "*.whl"))
    assert re.fullmatch(r"energy_meter-%s-py3-none-linux_\w+\.whl" % re.escape(version),
                        os.path.basename(whl)), whl
    with zipfile.ZipFile(whl) as z:
        members = set(z.namelist())
        for f in ("energy_meter/libenergymeter.so", "energy_meter/py.typed",
                  "energy_meter/_version.py", "energymeter/__init__.py"):
            assert f in members, f
        so = z.read("energy_meter/libenergymeter.so")
    if bpf_buildable():
        # The eBPF program is inside the library (a skeleton): nothing else to ship.
        assert b"blkio_bpf" in so and b"built without eBPF" not in so, out[-3000:]

    # The wheel's library loads, from outside any source tree.
    run([py, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--target",
         str(tmp_path / "site"), whl], cwd=str(tmp_path))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = clean_env()
    env["PYTHONPATH"] = str(tmp_path / "site")
    code = ("import energy_meter as e, energymeter; "
            "print(e.__file__, e.library_path(), e.library_version(), e.__version__)")
    f, lib, libver, pyver = run([py, "-c", code], cwd=str(elsewhere), env=env).split()
    assert f.startswith(str(tmp_path / "site")) and lib == str(tmp_path / "site" / "energy_meter"
                                                               / "libenergymeter.so"), (f, lib)
    assert libver == pyver == version

    # 3. An editable install of the unpacked sdist into a scratch environment.
    venv = tmp_path / "venv"
    run([py, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
        cwd=str(tmp_path))
    vpy = str(venv / "bin" / "python")
    run([vpy, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-deps", "--no-index",
         "-e", str(src)], cwd=str(tmp_path))
    code = ("import importlib.metadata as m, energy_meter as e; from energymeter import "
            "EnergyMeter; assert EnergyMeter is e.EnergyMeter; "
            "print(e.__file__, e.library_path(), m.version('energy-meter'), e.__version__)")
    f, lib, distver, pyver = run([vpy, "-c", code], cwd=str(elsewhere)).split()
    assert f == str(src / "python" / "energy_meter" / "__init__.py"), f
    assert lib.startswith(str(src) + os.sep), lib
    assert distver == pyver == version
