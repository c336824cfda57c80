"""Tests of the Python package energy_meter (a package, so that its conftest does not
clash with tests/cli/conftest.py when both directories run in one pytest)."""
