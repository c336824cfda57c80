"""energy_uj readable by root only (the CVE-2020-8694 fix): as an
unprivileged user, cpu is unavailable with a reason that says so and names
safe fixes, never `chmod -R a+r`."""

import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import FakeTree, check_report, em_env, parse_json

NOBODY = 65534


def _as_nobody_prefix():
    if os.geteuid() != 0:
        pytest.skip("needs root to drop to uid 65534 (running as uid %d)" % os.geteuid())
    if shutil.which("setpriv"):
        return ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups"]
    if shutil.which("runuser"):
        return ["runuser", "-u", "nobody", "--"]
    pytest.skip("neither setpriv nor runuser is installed")


def _no_world_readable_advice(text):
    """The advice that reopens the Platypus side channel must never appear."""
    assert "chmod -r" not in text.lower(), text
    assert "a+r" not in text and "o+r" not in text, text


@pytest.fixture
def locked_tree(binary):
    prefix = _as_nobody_prefix()
    d = tempfile.mkdtemp(prefix="em-perm-")  # not under pytest's 0700 tmp dir
    try:
        tree = FakeTree.build(os.path.join(d, "root"), "intel1", range_uj=10_000_000,
                              energy_mode=0o400)
        tree.chmod_tree(0o755)
        os.chmod(d, 0o755)
        out = os.path.join(d, "out")
        os.mkdir(out)
        os.chmod(out, 0o1777)
        exe = binary
        if subprocess.run(prefix + ["test", "-x", exe]).returncode != 0:
            exe = os.path.join(d, "energymeter")
            shutil.copy2(binary, exe)
            os.chmod(exe, 0o755)
        check = subprocess.run(prefix + ["cat", tree.energy_path("intel-rapl:0")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert check.returncode != 0, "energy_uj is readable by nobody: the test is void"
        yield tree, prefix, exe, out
    finally:
        subprocess.run(["rm", "-rf", d])


def test_permission_denied_stat(locked_tree):
    tree, prefix, exe, out = locked_tree
    rep_path = os.path.join(out, "r.json")
    p = subprocess.run(prefix + [exe, "stat", "--json", "-o", rep_path, "--", "true"],
                       env=em_env(tree.root), text=True, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 0, p.stderr
    raw = open(rep_path).read()
    rep = check_report(parse_json(raw), command=["true"], exit_status=0)
    for name in ("cpu", "dram"):
        c = rep["components"][name]
        assert c["status"] == "unavailable" and c["joules"] is None, (name, c)
        reason = c["reason"]
        assert "permission" in reason.lower(), (name, reason)
        assert "CVE-2020-8694" in reason, (name, reason)
    assert rep["total_joules"] == 0
    _no_world_readable_advice(raw + p.stderr)

    # The human report says the same, to stderr.
    p = subprocess.run(prefix + [exe, "stat", "--", "true"], env=em_env(tree.root), text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "permission" in p.stderr.lower() and "CVE-2020-8694" in p.stderr, p.stderr
    _no_world_readable_advice(p.stderr)


def test_permission_denied_list(locked_tree):
    tree, prefix, exe, out = locked_tree
    for args in (["list"], ["list", "--json"]):
        p = subprocess.run(prefix + [exe] + args, env=em_env(tree.root), text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        assert p.returncode == 0, p.stderr
        if "--json" in args:
            parse_json(p.stdout)
        text = p.stdout + p.stderr
        assert "permission" in text.lower(), text
        assert "CVE-2020-8694" in text, text
        _no_world_readable_advice(text)


def test_root_reads_locked_tree(binary, locked_tree):
    """Control: the same tree read as root works (the failure above is the uid)."""
    tree, prefix, exe, out = locked_tree
    rep_path = os.path.join(out, "root.json")
    with tree.writer():
        p = subprocess.run([binary, "stat", "--json", "-o", rep_path, "--", "sleep", "0.3"],
                           env=em_env(tree.root), text=True, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 0, p.stderr
    rep = check_report(parse_json(open(rep_path).read()))
    assert rep["components"]["cpu"]["status"] == "measured", rep["components"]["cpu"]
