# The Python package energy_meter (python/energy_meter/, pure Python over libenergymeter.so with
# ctypes): Debian's numpy and matplotlib for it, chromium to check in the tests that SVG plots
# render in a browser (headless; ~20 s to install on CI).
DEB_PACKAGES += python3-numpy python3-matplotlib chromium

PYTHON_PKG_SRCS := $(filter-out python/energy_meter/_install.py,$(wildcard python/energy_meter/*.py))

# Where Debian's python3 imports packages from: /usr/lib/python3/dist-packages for PREFIX=/usr,
# else PREFIX/lib/python3.X/dist-packages (/usr/local/lib/python3.11/dist-packages on bookworm;
# PREFIX/lib/python3/dist-packages is NOT on its path). Evaluated only when installing.
PYTHON_SITEDIR ?= $(if $(filter /usr,$(PREFIX)),$(PREFIX)/lib/python3/dist-packages,$(PREFIX)/lib/python$(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')/dist-packages)

.PHONY: install-python uninstall-python pytest-python

# The package, plus _install.py recording where `make install` put the library (found even when
# PREFIX's lib is not on the loader's path).
install-python:
	install -d $(DESTDIR)$(PYTHON_SITEDIR)/energy_meter
	install -m 644 $(PYTHON_PKG_SRCS) $(DESTDIR)$(PYTHON_SITEDIR)/energy_meter/
	printf '# Written by make install: the library installed with this package.\nLIBRARY = "%s"\n' \
	  '$(PREFIX)/lib/libenergymeter.so.$(SOVERSION)' > $(DESTDIR)$(PYTHON_SITEDIR)/energy_meter/_install.py

uninstall-python:
	rm -rf $(DESTDIR)$(PYTHON_SITEDIR)/energy_meter

# pytest of the Python package against this build's library and CLI (fake sysfs trees).
pytest-python: all $(TEST_DEPS)
	ENERGYMETER_BUILD=$(abspath $(BUILD)) ENERGYMETER_BIN=$(abspath $(BUILD)/energymeter) \
	  ENERGYMETER_LIB=$(abspath $(BUILD)/libenergymeter.so) $(PYTHON) -m pytest -q $(PYTEST_RERUN) tests/python
