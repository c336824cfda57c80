"""`energymeter list [--json]` on fake trees: every source and zone, used or
not, with reasons. The exact JSON shape of `list` is not fixed yet: assert
that it parses, names the powercap source and every zone, and that each zone
carries a boolean (used/usable)."""

import pytest

from conftest import parse_json

ZONES = {
    "intel1": ["intel-rapl:0", "intel-rapl:0:0", "intel-rapl:0:1", "intel-rapl:0:2",
               "intel-rapl:1"],
    "intel2": ["intel-rapl:0", "intel-rapl:0:0", "intel-rapl:1", "intel-rapl:1:0"],
    "amd": ["intel-rapl:0", "intel-rapl:0:0"],
}


def walk(obj):
    yield obj
    if isinstance(obj, dict):
        for v in obj.values():
            yield from walk(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from walk(v)


def strings(obj):
    return [x for x in walk(obj) if isinstance(x, str)]


@pytest.mark.parametrize("layout", sorted(ZONES))
def test_list_text(run_em, fake_tree, layout):
    tree = fake_tree(layout)
    p = run_em(["list"], root=tree.root)
    assert p.returncode == 0, p.stderr
    assert "rapl-powercap" in p.stdout, p.stdout
    for z in ZONES[layout]:
        assert z in p.stdout, "zone %s not listed:\n%s" % (z, p.stdout)
    for name in set(z["name"] for z in tree.spec["zones"]):
        assert name in p.stdout, "zone name %s not listed:\n%s" % (name, p.stdout)
    assert "chmod -r" not in p.stdout.lower()


@pytest.mark.parametrize("layout", sorted(ZONES))
def test_list_json(run_em, fake_tree, layout):
    tree = fake_tree(layout)
    p = run_em(["list", "--json"], root=tree.root)
    assert p.returncode == 0, p.stderr
    doc = parse_json(p.stdout)
    assert "rapl-powercap" in strings(doc), p.stdout
    for z in ZONES[layout]:
        holders = [d for d in walk(doc) if isinstance(d, dict) and z in d.values()]
        assert holders, "zone %s not in list --json:\n%s" % (z, p.stdout)
        assert any(isinstance(v, bool) for d in holders for v in d.values()), \
            "zone %s has no used/usable flag:\n%s" % (z, p.stdout)
    # The control type directory is not a zone.
    assert not [d for d in walk(doc) if isinstance(d, dict) and "intel-rapl" in d.values()], \
        "the intel-rapl control type is listed as a zone:\n" + p.stdout


def test_list_no_powercap(run_em, empty_root):
    p = run_em(["list"], root=empty_root)
    assert p.returncode == 0, p.stderr
    assert "rapl-powercap" in p.stdout, p.stdout
    p = run_em(["list", "--json"], root=empty_root)
    assert p.returncode == 0, p.stderr
    doc = parse_json(p.stdout)
    assert "rapl-powercap" in strings(doc)
    assert not any(s.startswith("intel-rapl:") for s in strings(doc)), p.stdout
