"""The package is typed (PEP 561): mypy checks it with every function
annotated, and catches a user's wrong argument type through its hints."""

import os
import shutil
import subprocess
import sys

import pytest

import energy_meter


def _mypy():
    try:
        import mypy  # noqa: F401
    except ImportError:
        pytest.skip("mypy (Debian python3-mypy) is not installed")
    return [sys.executable, "-m", "mypy", "--no-incremental", "--ignore-missing-imports",
            "--cache-dir", os.devnull]


def test_py_typed_is_shipped():
    pkg = os.path.dirname(energy_meter.__file__)
    assert os.path.isfile(os.path.join(pkg, "py.typed")), pkg


def test_package_is_fully_annotated(tmp_path):
    pkg = os.path.dirname(energy_meter.__file__)
    work = tmp_path / "energy_meter"
    shutil.copytree(pkg, str(work), ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    p = subprocess.run(_mypy() + ["--disallow-untyped-defs", "energy_meter"], cwd=str(tmp_path),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=240)
    assert p.returncode == 0, p.stdout


def test_hints_catch_a_wrong_argument(tmp_path):
    pkg_parent = os.path.dirname(os.path.dirname(energy_meter.__file__))
    good = tmp_path / "good.py"
    good.write_text("from energy_meter import EnergyMeter, Measurement\n"
                    "em = EnergyMeter(label='x', include_idle=True, interval_ms=100)\n"
                    "em.begin_window('w')\n"
                    "m: Measurement = em.end_window('w', units=3)\n"
                    "j: float = m.total_joules\n")
    bad = tmp_path / "bad.py"
    bad.write_text("from energy_meter import EnergyMeter\n"
                   "em = EnergyMeter(include_idle='no')\n"
                   "em.end_window(42)\n")
    # Installed (make pytest-venv), mypy finds the package through the
    # interpreter's site-packages, as PEP 561 says, and refuses MYPYPATH there;
    # in the source tree it needs MYPYPATH.
    env = dict(os.environ)
    if os.path.basename(pkg_parent) not in ("site-packages", "dist-packages"):
        env["MYPYPATH"] = pkg_parent
    p = subprocess.run(_mypy() + [str(good)], env=env, cwd=str(tmp_path),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=240)
    assert p.returncode == 0, p.stdout
    p = subprocess.run(_mypy() + [str(bad)], env=env, cwd=str(tmp_path),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=240)
    assert p.returncode == 1, p.stdout
    assert 'Argument "include_idle"' in p.stdout and 'Argument 1 to "end_window"' in p.stdout, \
        p.stdout
