"""Counter faults mid-run: a reset that no wrap explains, and an energy_uj
file that vanishes. Either must give a warning and a degraded component whose
joules lie within the reported uncertainty of the truth: never a silently
wrong number marked as a clean measurement."""

from conftest import assert_close, check_report, devices, measure, parse_json


def _degraded(rep, name, truth, max_power_w, zone_words):
    c = rep["components"][name]
    assert c["status"] != "unavailable" and c["joules"] is not None, \
        "%s: a fault in one zone must degrade, not drop, the component: %s" % (name, c)
    assert c.get("degraded") is True, "%s not marked degraded: %s" % (name, c)
    assert rep["warnings"], "no warning for the fault"
    text = " ".join(rep["warnings"])
    assert any(w in text for w in zone_words), \
        "warnings do not name the zone (%s): %s" % (zone_words, rep["warnings"])
    unc = c["uncertainty_j"]
    dur = rep["duration_s"]
    # The truth must lie within the stated uncertainty (plus the 1 % timing slack).
    assert abs(c["joules"] - truth) <= unc + 0.01 * truth, \
        "%s: %.3f J +- %.3f J, truth %.3f J" % (name, c["joules"], unc, truth)
    # ... and the uncertainty must still say something: at most the zone's
    # (margined) max power over the whole window.
    assert unc <= 2 * max_power_w * dur, "%s: uncertainty %.1f J is meaningless" % (name, unc)
    return c


def test_counter_reset_mid_run(binary, fake_tree, tmp_path):
    # Range 200 J, package-0 starting at 0: at the reset (~1.2 s in, ~24 J)
    # the only wrap that could explain the drop would be ~176 J in at most a
    # quarter of the 5 s wrap period (40 W max): impossible.
    tree = fake_tree("intel1", range_uj=200_000_000, offsets={"intel-rapl:0": 0})
    p, text, wall = measure(binary, tree, ["--json"], ["sleep", "2"], str(tmp_path),
                            faults=lambda w, t: w.reset("intel-rapl:0", t + 1.0))
    assert p.returncode == 0, p.stderr
    rep = check_report(parse_json(text), exit_status=0)
    dur = rep["duration_s"]
    cpu = _degraded(rep, "cpu", 20.0 * dur, 40.0, ("intel-rapl:0", "package-0"))
    assert_close(devices(cpu)["package-0"], 20.0 * dur, rel=0.01 + cpu["uncertainty_j"] /
                 (20.0 * dur), what="cpu package-0")
    # The other zones are untouched: exact and not degraded.
    dram = rep["components"]["dram"]
    assert dram["status"] == "measured" and dram.get("degraded", False) is False, dram
    assert_close(dram["joules"], 5.0 * dur, what="dram")


def test_energy_file_vanishes_mid_run(binary, fake_tree, tmp_path):
    tree = fake_tree("intel2", range_uj=10_000_000)
    p, text, wall = measure(binary, tree, ["--json"], ["sleep", "2"], str(tmp_path),
                            faults=lambda w, t: w.vanish("intel-rapl:1", t + 1.0))
    assert p.returncode == 0, p.stderr
    rep = check_report(parse_json(text), exit_status=0)
    dur = rep["duration_s"]
    cpu = _degraded(rep, "cpu", 35.0 * dur, 70.0, ("intel-rapl:1", "package-1"))
    devs = devices(cpu)
    assert_close(devs["package-0"], 20.0 * dur, what="cpu package-0 (unaffected)")
    assert abs(devs["package-1"] - 15.0 * dur) <= cpu["uncertainty_j"] + 0.01 * 15.0 * dur, \
        (devs, cpu["uncertainty_j"])
    dram = rep["components"]["dram"]
    assert dram["status"] == "measured" and dram.get("degraded", False) is False, dram
    assert_close(dram["joules"], 9.0 * dur, what="dram")
