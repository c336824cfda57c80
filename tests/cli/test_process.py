"""The measured command: exit status passthrough, death by signal, command
not found, and SIGINT/SIGTERM forwarded to it with the report still written."""

import os
import signal
import subprocess
import textwrap
import time

import pytest

from conftest import PYTHON, assert_close, check_report, em_env, load_json


@pytest.mark.parametrize("code", [0, 1, 7, 42, 255])
def test_exit_status_passthrough(run_em, tmp_path, code):
    out = tmp_path / "r.json"
    cmd = ["sh", "-c", "exit %d" % code]
    p = run_em(["stat", "--json", "-o", str(out), "--"] + cmd)
    assert p.returncode == code, p.stderr
    check_report(load_json(out), command=cmd, exit_status=code)


def test_death_by_signal(run_em, tmp_path):
    out = tmp_path / "r.json"
    p = run_em(["stat", "--json", "-o", str(out), "--", "sh", "-c", "kill -TERM $$"])
    assert p.returncode == 128 + signal.SIGTERM, (p.returncode, p.stderr)
    check_report(load_json(out), command=["sh", "-c", "kill -TERM $$"])


def test_command_not_found(run_em, tmp_path):
    out = tmp_path / "r.json"
    p = run_em(["stat", "--json", "-o", str(out), "--", "no-such-command-xyzzy", "arg"])
    assert p.returncode == 127, (p.returncode, p.stderr)
    assert "no-such-command-xyzzy" in p.stderr, "no message naming the command:\n" + p.stderr
    assert p.stderr.startswith("energymeter:"), p.stderr


def test_child_args_not_parsed(run_em, tmp_path):
    """Options after -- belong to the command, even ones energymeter knows."""
    out = tmp_path / "r.json"
    cmd = ["sh", "-c", 'test "$1" = --json && exit 5', "sh", "--json"]
    p = run_em(["stat", "--json", "-o", str(out), "--"] + cmd)
    assert p.returncode == 5, p.stderr
    check_report(load_json(out), command=cmd, exit_status=5)


CHILD = textwrap.dedent("""
    import os, signal, sys, time
    marker = sys.argv[1]
    def handler(signum, frame):
        with open(marker, "w") as f:
            f.write(signal.Signals(signum).name)
        sys.exit(3)
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    with open(marker + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename(marker + ".tmp", marker + ".ready")  # appears complete, never empty
    time.sleep(30)
    sys.exit(0)
""")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_forwarded(binary, fake_tree, tmp_path, sig):
    tree = fake_tree("intel1", range_uj=10_000_000)
    child = tmp_path / "child.py"
    child.write_text(CHILD)
    marker = tmp_path / "marker"
    out = tmp_path / "r.json"
    argv = [binary, "stat", "--json", "-o", str(out), "--", PYTHON, str(child), str(marker)]
    with tree.writer():
        em = subprocess.Popen(argv, env=em_env(tree.root), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 15
            while not os.path.exists(str(marker) + ".ready"):
                assert em.poll() is None, "energymeter exited early: %s" % em.stderr.read()
                assert time.monotonic() < deadline, "child never started"
                time.sleep(0.02)
            child_pid = int(open(str(marker) + ".ready").read())
            time.sleep(0.3)
            os.kill(em.pid, sig)  # energymeter only, not its process group
            try:
                _, err = em.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                pytest.fail("energymeter still running 5 s after %s: not forwarded to the "
                            "child (which exits at once when it gets it)?" % sig.name)
        finally:
            if em.poll() is None:
                em.kill()
                em.wait()
                try:
                    os.kill(child_pid, signal.SIGKILL)
                except Exception:
                    pass
    assert marker.exists(), "%s was not forwarded to the child; stderr:\n%s" % (sig.name, err)
    assert marker.read_text() == sig.name
    assert em.returncode == 3, "exit %d (child exited 3); stderr:\n%s" % (em.returncode, err)
    assert out.exists(), "report not written after %s; stderr:\n%s" % (sig.name, err)
    rep = check_report(load_json(out), exit_status=3)
    assert rep["command"][-2:] == [str(child), str(marker)]
    cpu = rep["components"]["cpu"]
    assert cpu["status"] == "measured", cpu
    # A short window (~0.4 s): allow the writer's staleness (20 W x 10 ms).
    assert_close(cpu["joules"], 20.0 * rep["duration_s"], what="cpu", abs_j=0.2)
    assert rep["duration_s"] < 10
