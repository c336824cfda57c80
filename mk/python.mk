# The Python package energy_meter (python/energy_meter/, pure Python over libenergymeter.so with
# ctypes): Debian's numpy and matplotlib for it, chromium to check in the tests that SVG plots
# render in a browser (headless; ~20 s to install on CI).
DEB_PACKAGES += python3-numpy python3-matplotlib chromium
# Packaging (`make wheel`, `make pytest-venv`, pip install .): Debian's setuptools 66 and wheel
# are the build backend (pyproject.toml, setup.py), python3-build the frontend.
DEB_PACKAGES += python3-setuptools python3-wheel python3-pip python3-venv python3-build
# to_dataframe() (tests/python/test_windows.py) and the type check (tests/python/test_typing.py).
DEB_PACKAGES += python3-pandas python3-mypy

# _install.py and _version.py are written when installing, never copied from the tree.
PYTHON_PKG_SRCS := $(filter-out python/energy_meter/_install.py python/energy_meter/_version.py,\
                     $(wildcard python/energy_meter/*.py))
# The one version, the public header's EM_VERSION_MAJOR.MINOR.PATCH (setup.py reads it too).
EM_VERSION = $(shell sed -n 's/^\#define EM_VERSION_\(MAJOR\|MINOR\|PATCH\) *\([0-9]*\).*/\2/p' \
               include/energymeter/energymeter.h | paste -sd.)

# Where Debian's python3 imports packages from: /usr/lib/python3/dist-packages for PREFIX=/usr,
# else PREFIX/lib/python3.X/dist-packages (/usr/local/lib/python3.11/dist-packages on bookworm;
# PREFIX/lib/python3/dist-packages is NOT on its path). Evaluated only when installing.
PYTHON_SITEDIR ?= $(if $(filter /usr,$(PREFIX)),$(PREFIX)/lib/python3/dist-packages,$(PREFIX)/lib/python$(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')/dist-packages)

.PHONY: install-python uninstall-python pytest-python wheel pytest-venv

# The package and its alias energymeter, plus _install.py recording where `make install` put the
# library (found even when PREFIX's lib is not on the loader's path) and _version.py.
install-python:
	install -d $(DESTDIR)$(PYTHON_SITEDIR)/energy_meter $(DESTDIR)$(PYTHON_SITEDIR)/energymeter
	install -m 644 $(PYTHON_PKG_SRCS) python/energy_meter/py.typed $(DESTDIR)$(PYTHON_SITEDIR)/energy_meter/
	install -m 644 python/energymeter/__init__.py python/energymeter/py.typed \
	  $(DESTDIR)$(PYTHON_SITEDIR)/energymeter/
	printf '# Written by make install: the library installed with this package.\nLIBRARY = "%s"\n' \
	  '$(PREFIX)/lib/libenergymeter.so.$(SOVERSION)' > $(DESTDIR)$(PYTHON_SITEDIR)/energy_meter/_install.py
	printf '# Written by make install, from include/energymeter/energymeter.h.\nVERSION = "%s"\n' \
	  '$(EM_VERSION)' > $(DESTDIR)$(PYTHON_SITEDIR)/energy_meter/_version.py

uninstall-python:
	rm -rf $(DESTDIR)$(PYTHON_SITEDIR)/energy_meter $(DESTDIR)$(PYTHON_SITEDIR)/energymeter

# The distribution energy-meter: $(BUILD)/dist/energy-meter-X.Y.Z.tar.gz (sdist) and the wheel
# built from it, energy_meter-X.Y.Z-py3-none-<platform>.whl, holding this build's library
# (ENERGYMETER_PREBUILT_LIB: nothing is compiled twice; `pip install .` or a wheel built from the
# sdist elsewhere compile their own with the Makefile). The log: $(BUILD)/dist/build.log.
wheel: $(BUILD)/libenergymeter.so
	$(Q)rm -rf $(BUILD)/dist && mkdir -p $(BUILD)/dist
	$(Q)ENERGYMETER_PREBUILT_LIB=$(abspath $(BUILD)/libenergymeter.so) $(PYTHON) -m build \
	  --no-isolation --outdir $(abspath $(BUILD)/dist) . > $(BUILD)/dist/build.log 2>&1 \
	  || { cat $(BUILD)/dist/build.log; echo "make wheel: python3 -m build failed (log above)" >&2; exit 1; }
	$(Q)ls $(BUILD)/dist/*.whl $(BUILD)/dist/*.tar.gz

# tests/python against the wheel installed in a fresh virtual environment ($(BUILD)/venv, with
# Debian's packages), run with its python from a directory outside the source tree and without
# ENERGYMETER_LIB: the package and library pip installed are the ones tested
# (ENERGYMETER_TEST_INSTALLED=1, tests/python/conftest.py), plus tests/python/test_packaging.py's
# sdist -> wheel -> editable install.
pytest-venv: wheel $(BUILD)/energymeter $(TEST_DEPS)
	$(Q)rm -rf $(BUILD)/venv
	$(Q)$(PYTHON) -m venv --system-site-packages --without-pip $(BUILD)/venv
	$(Q)$(BUILD)/venv/bin/python -m pip install -q --no-index --no-build-isolation --no-deps \
	  $(BUILD)/dist/*.whl
	$(Q)d=$$(mktemp -d) && cd $$d && \
	  env -u ENERGYMETER_LIB -u PYTHONPATH ENERGYMETER_TEST_INSTALLED=1 \
	  ENERGYMETER_BUILD=$(abspath $(BUILD)) ENERGYMETER_BIN=$(abspath $(BUILD)/energymeter) \
	  $(abspath $(BUILD)/venv/bin/python) -m pytest -q -p no:cacheprovider $(PYTEST_RERUN) \
	  $(abspath tests/python); rc=$$?; cd / && rm -rf $$d; exit $$rc

# pytest of the Python package against this build's library and CLI (fake sysfs trees).
pytest-python: all $(TEST_DEPS)
	ENERGYMETER_BUILD=$(abspath $(BUILD)) ENERGYMETER_BIN=$(abspath $(BUILD)/energymeter) \
	  ENERGYMETER_LIB=$(abspath $(BUILD)/libenergymeter.so) $(PYTHON) -m pytest -q $(PYTEST_RERUN) tests/python
