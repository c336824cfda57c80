"""Build of the Python distribution energy-meter (metadata: pyproject.toml).

setuptools needs code for three things, all here:

- the version, read from include/energymeter/energymeter.h (EM_VERSION_MAJOR,
  _MINOR, _PATCH): the one place the C library and the Python package share;
- libenergymeter.so, built by the project's Makefile (`make BUILD=<dir>
  <dir>/libenergymeter.so`, the eBPF storage program embedded in it as a
  bpftool skeleton) and copied into the package as energy_meter/libenergymeter.so,
  beside a generated energy_meter/_version.py;
- a wheel tagged for the platform (py3-none-linux_x86_64): it holds a shared
  library, but no Python extension, so it suits every Python 3.

Environment:
  ENERGYMETER_PREBUILT_LIB=PATH  package this libenergymeter.so instead of
                                 building one (`make wheel` passes the build's)
  MAKE, CC, CFLAGS, LDFLAGS      as for make

An editable install (`pip install -e .`) builds the library where `make` puts
it, build/libenergymeter.so of the project, which the package finds from its
source directory (python/energy_meter/../../build/): a later `make` updates
what the editable install loads.
"""

import os
import re
import shutil
import subprocess
import sys

from setuptools import Distribution, setup
from setuptools.command.build_ext import build_ext

try:  # setuptools >= 70.1 has its own; older ones use the wheel package's
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:
    from wheel.bdist_wheel import bdist_wheel

ROOT = os.path.dirname(os.path.abspath(__file__))
HEADER = os.path.join("include", "energymeter", "energymeter.h")
LIBRARY = "libenergymeter.so"
# What a machine needs to build the library (docs/python.md, "Installing").
BUILD_DEPS = ("gcc make libc6-dev libcjson-dev, and for eBPF storage "
              "clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev (Debian package names)")


def read_version(root=ROOT):
    """"MAJOR.MINOR.PATCH" from the public header's EM_VERSION_* macros."""
    path = os.path.join(root, HEADER)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        sys.exit("energy-meter: cannot read the version from %s (%s): build from a checkout "
                 "or an sdist, which both contain it" % (path, e.strerror))
    parts = []
    for name in ("MAJOR", "MINOR", "PATCH"):
        m = re.search(r"^#define\s+EM_VERSION_%s\s+(\d+)\s*$" % name, text, re.M)
        if not m:
            sys.exit("energy-meter: %s has no '#define EM_VERSION_%s <number>' line" % (path, name))
        parts.append(str(int(m.group(1))))
    version = ".".join(parts)
    # The header also spells the version as a string: both must agree.
    m = re.search(r'^#define\s+EM_VERSION_STRING\s+"([^"]*)"', text, re.M)
    if m and m.group(1) != version:
        sys.exit('energy-meter: %s: EM_VERSION_STRING "%s" disagrees with EM_VERSION_MAJOR/'
                 'MINOR/PATCH (%s); make them the same' % (path, m.group(1), version))
    return version


VERSION = read_version()


def make_env():
    """The environment for our make: a make that runs pip (say `make wheel`)
    passes its own command-line variables and job server down through
    MAKEFLAGS; they belong to that build, not to this one."""
    env = dict(os.environ)
    for var in ("MAKEFLAGS", "MFLAGS", "GNUMAKEFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
        env.pop(var, None)
    return env


def make_library(build_dir):
    """Build build_dir/libenergymeter.so with the Makefile; return its path."""
    build_dir = os.path.abspath(build_dir)
    target = os.path.join(build_dir, LIBRARY)
    make = os.environ.get("MAKE") or shutil.which("make")
    if not make:
        sys.exit("energy-meter: building %s needs make and a C compiler: install %s, or set "
                 "ENERGYMETER_PREBUILT_LIB to a %s built already" % (LIBRARY, BUILD_DEPS, LIBRARY))
    cmd = [make, "-C", ROOT, "-j%d" % (os.cpu_count() or 1), "BUILD=" + build_dir, target]
    print("energy-meter: building %s: %s" % (LIBRARY, " ".join(cmd)), flush=True)
    rc = subprocess.call(cmd, env=make_env())
    if rc != 0:
        sys.exit("energy-meter: `%s` failed (exit status %d): install the build dependencies "
                 "(%s; docs/python.md, 'Installing'), or set ENERGYMETER_PREBUILT_LIB to a %s "
                 "built already" % (" ".join(cmd), rc, BUILD_DEPS, LIBRARY))
    return target


class BinaryDistribution(Distribution):
    """A distribution with platform-specific contents (the shared library)."""

    def has_ext_modules(self):
        return True


class build_library(build_ext):
    """build_ext for a distribution without extensions: libenergymeter.so
    built with the Makefile, in this command's temporary directory, then
    copied into the package with the generated _version.py."""

    description = "build libenergymeter.so with the Makefile and put it in the package"

    def run(self):
        if self.editable_mode or self.inplace:
            # The package stays in python/; it finds build/libenergymeter.so.
            make_library(os.path.join(ROOT, "build"))
            self._outputs = []
            return
        prebuilt = os.environ.get("ENERGYMETER_PREBUILT_LIB")
        if prebuilt:
            if not os.path.isfile(prebuilt):
                sys.exit("energy-meter: ENERGYMETER_PREBUILT_LIB=%s: no such file (build it with "
                         "`make`, or unset the variable to build one here)" % prebuilt)
            lib = prebuilt
        else:
            lib = make_library(os.path.join(self.build_temp, "libenergymeter"))
        pkg = os.path.join(self.build_lib, "energy_meter")
        os.makedirs(pkg, exist_ok=True)
        dest = os.path.join(pkg, LIBRARY)
        shutil.copyfile(lib, dest)
        os.chmod(dest, 0o755)
        # Debugging information is most of the file's size and no use at run time.
        strip = shutil.which("strip")
        if strip:
            subprocess.call([strip, "--strip-debug", dest])
        version = os.path.join(pkg, "_version.py")
        with open(version, "w", encoding="utf-8") as f:
            f.write("# Written when the package was built (setup.py), from %s.\n"
                    "VERSION = %r\n" % (HEADER, VERSION))
        self._outputs = [dest, version]

    def get_outputs(self):
        return list(getattr(self, "_outputs", []))

    def get_source_files(self):
        return []


class bdist_wheel_any_python(bdist_wheel):
    """Tagged py3-none-<platform>: the shared library is tied to the platform,
    not to a Python version or ABI (the package loads it with ctypes)."""

    def get_tag(self):
        _, _, plat = super().get_tag()
        return "py3", "none", plat


setup(
    version=VERSION,
    package_dir={"": "python"},
    packages=["energy_meter", "energymeter"],
    package_data={"energy_meter": ["py.typed"], "energymeter": ["py.typed"]},
    distclass=BinaryDistribution,
    cmdclass={"build_ext": build_library, "bdist_wheel": bdist_wheel_any_python},
)
