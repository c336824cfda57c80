"""`energymeter serve`: the Prometheus exporter.

On a fake powercap tree whose writer moves the counters at known powers:
the exposition is well formed (promtool, and a parser here), its counters
grow and hold the writer's energy, unavailable components carry no energy
sample, and a real Prometheus server started by the test scrapes it. Plus
the HTTP edges, bad usage, a port in use and a clean stop on SIGTERM.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import em_env

READY_RE = re.compile(r"listening on (http://\S+/metrics)")
# name{labels} value
SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


class Exporter:
    """`energymeter serve` on a fake tree, listening on a free loopback port."""

    def __init__(self, binary, root, args=()):
        self.p = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0"] + list(args),
                                  env=em_env(root), stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.p.stderr.readline()
        m = READY_RE.search(line)
        if not m:
            self.p.kill()
            out, err = self.p.communicate(timeout=10)
            pytest.fail("serve did not start: %r %s" % (line, err))
        self.url = m.group(1)
        self.port = int(urllib.parse.urlsplit(self.url).port)

    def get(self, path="/metrics", method="GET"):
        """(status, headers, body) of one request."""
        base = self.url[:-len("/metrics")]
        req = urllib.request.Request(base + path, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    def metrics(self):
        status, headers, body = self.get()
        assert status == 200, (status, body)
        assert headers["Content-Type"].startswith("text/plain; version=0.0.4"), headers
        return body

    def wait_windows(self, n, timeout=20):
        """Metrics once at least n windows are in."""
        end = time.monotonic() + timeout
        while True:
            text = self.metrics()
            if value(parse(text), "energymeter_windows_total") >= n:
                return text
            assert time.monotonic() < end, "fewer than %d windows after %ss" % (n, timeout)
            time.sleep(0.05)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            out, err = self.p.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.p.kill()
            out, err = self.p.communicate()
            pytest.fail("serve did not stop on SIGTERM: %s" % err)
        return self.p.returncode, err


def parse(text):
    """{(name, frozenset(labels)): value}, checking every line's syntax and
    that each family's samples follow its one TYPE line."""
    samples, typed, current = {}, {}, None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name not in typed, "family %s typed twice" % name
            assert kind in ("counter", "gauge"), line
            typed[name] = kind
            current = name
            continue
        m = SAMPLE_RE.match(line)
        assert m, "not a sample line: %r" % line
        name, labels, v = m.group(1), m.group(3) or "", m.group(4)
        assert name == current, "sample %s outside its family (%s)" % (name, current)
        got = dict(LABEL_RE.findall(labels))
        assert ",".join('%s="%s"' % kv for kv in got.items()) == labels, line
        key = (name, frozenset(got.items()))
        assert key not in samples, "duplicate sample %r" % line
        samples[key] = float(v)
    return samples


def value(samples, name, **labels):
    matches = [v for (n, ls), v in samples.items()
               if n == name and all((k, str(x)) in ls for k, x in labels.items())]
    assert len(matches) <= 1, (name, labels, matches)
    return matches[0] if matches else None


def test_metrics_hold_the_writers_energy(binary, fake_tree):
    tree = fake_tree("intel1")
    with tree.writer():
        ex = Exporter(binary, tree.root, ["--interval", "100"])
        try:
            first = parse(ex.wait_windows(3))
            time.sleep(1.0)
            text = ex.wait_windows(value(first, "energymeter_windows_total") + 8)
        finally:
            rc, err = ex.stop()
    assert rc == 0, err
    if shutil.which("promtool"):
        p = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        assert p.returncode == 0, p.stdout
    s = parse(text)
    secs = value(s, "energymeter_measured_seconds_total")
    assert secs >= 1.0, secs
    # One named window split at each interval: each window starts at the
    # reading that ended the one before, so no time falls between them.
    gaps = value(s, "energymeter_unmeasured_seconds_total")
    assert gaps == 0, (gaps, secs)
    # Each window's joules are counter differences that follow one another,
    # so the sums are exact up to the writer's staleness at the first and
    # last readings (~10 ms).
    for comp, dev, watts, in_total in (("cpu", "package-0", 20.0, "true"),
                                       ("dram", "package-0", 5.0, "true"),
                                       ("psys", None, 30.0, "false"),
                                       ("cpu-core", None, 10.0, "false")):
        j = value(s, "energymeter_energy_joules_total", component=comp)
        assert j is not None, (comp, text)
        assert abs(j - watts * secs) <= 0.02 * watts * secs + 0.1, (comp, j, watts * secs)
        assert value(s, "energymeter_energy_joules_total", component=comp,
                     in_total=in_total) == j, comp
        assert value(s, "energymeter_component_info", component=comp, status="measured",
                     source="rapl-powercap") == 1, comp
        if dev:
            assert value(s, "energymeter_device_energy_joules_total", component=comp,
                         device=dev) == pytest.approx(j, rel=1e-9), comp
        p = value(s, "energymeter_power_watts", component=comp)
        assert abs(p - watts) <= 0.2 * watts, (comp, p)
        # The counters only grow, and grew.
        before = value(first, "energymeter_energy_joules_total", component=comp)
        assert 0 < before < j, (comp, before, j)
    # gpu: unavailable, with the reason, and no energy sample (never 0 J).
    assert value(s, "energymeter_energy_joules_total", component="gpu") is None, text
    info = [ls for (n, ls), v in s.items()
            if n == "energymeter_component_info" and ("component", "gpu") in ls]
    assert len(info) == 1, info
    labels = dict(info[0])
    assert labels["status"] == "unavailable" and "NVIDIA" in labels["reason"], labels
    assert value(s, "energymeter_build_info") == 1


def test_real_prometheus_scrapes_it(binary, fake_tree, tmp_path):
    prom = shutil.which("prometheus")
    if not prom:
        pytest.skip("prometheus is not installed (Debian package prometheus)")
    tree = fake_tree("intel2")
    with tree.writer():
        ex = Exporter(binary, tree.root, ["--interval", "200"])
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            prom_port = s.getsockname()[1]
        cfg = tmp_path / "prometheus.yml"
        cfg.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                       "scrape_configs:\n  - job_name: energymeter\n"
                       "    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % ex.port)
        log = open(tmp_path / "prometheus.log", "w")
        server = subprocess.Popen([prom, "--config.file=%s" % cfg,
                                   "--storage.tsdb.path=%s" % (tmp_path / "data"),
                                   "--web.listen-address=127.0.0.1:%d" % prom_port],
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=log)

        def query(q):
            url = "http://127.0.0.1:%d/api/v1/query?%s" % (
                prom_port, urllib.parse.urlencode({"query": q}))
            with urllib.request.urlopen(url, timeout=5) as r:
                doc = json.loads(r.read().decode())
            assert doc["status"] == "success", doc
            return [(x["metric"], float(x["value"][1])) for x in doc["data"]["result"]]

        try:
            end = time.monotonic() + 45
            scrapes = []
            while time.monotonic() < end:
                try:
                    scrapes = query('count_over_time(energymeter_windows_total[1m])')
                except (urllib.error.URLError, ConnectionError, OSError):
                    scrapes = []  # not up yet
                if scrapes and scrapes[0][1] >= 4:
                    break
                time.sleep(0.5)
            assert scrapes and scrapes[0][1] >= 4, \
                "Prometheus did not scrape 4 times: %s" % open(tmp_path / "prometheus.log").read()
            assert query('up{job="energymeter"}')[0][1] == 1
            assert query('scrape_samples_scraped{job="energymeter"}')[0][1] >= 20
            assert query('resets(energymeter_energy_joules_total[1m])')
            assert all(v == 0 for _, v in query('resets(energymeter_energy_joules_total[1m])'))
            # Mean power since the start, from one scrape: joules / seconds
            # (short by up to twice the unmeasured time between windows,
            # ~5 ms a window under ASan; see the test above).
            gaps = query('energymeter_unmeasured_seconds_total / energymeter_measured_seconds_total')
            slack = 0.05 + 2 * gaps[0][1]
            for dev, watts in (("package-0", 20.0), ("package-1", 15.0)):
                got = query('energymeter_device_energy_joules_total{component="cpu",device="%s"}'
                            ' / ignoring(component, device) energymeter_measured_seconds_total'
                            % dev)
                assert len(got) == 1 and abs(got[0][1] - watts) <= slack * watts, (dev, got, gaps)
            total = query('sum(energymeter_energy_joules_total{in_total="true"})'
                          ' / sum(energymeter_measured_seconds_total)')
            assert abs(total[0][1] - (20 + 15 + 5 + 4)) <= slack * 44, (total, gaps)
            gpu = query('energymeter_component_info{component="gpu"}')
            assert gpu and gpu[0][0]["status"] == "unavailable", gpu
            assert not query('energymeter_energy_joules_total{component="gpu"}')
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            log.close()
            rc, err = ex.stop()
    assert rc == 0, err


def test_http_edges(binary, empty_root):
    ex = Exporter(binary, empty_root, ["--interval", "50"])
    try:
        status, _, body = ex.get("/")
        assert status == 200 and "/metrics" in body
        assert ex.get("/nope")[0] == 404
        status, headers, _ = ex.get("/metrics", method="POST")
        assert status == 405 and "GET" in headers["Allow"]
        status, headers, body = ex.get("/metrics", method="HEAD")
        assert status == 200 and body == "" and int(headers["Content-Length"]) > 0
        # No sensor at all: cpu, dram and gpu say why, and carry no energy.
        s = parse(ex.wait_windows(1))
        for comp in ("cpu", "gpu"):
            assert value(s, "energymeter_energy_joules_total", component=comp) is None
            assert value(s, "energymeter_component_info", component=comp,
                         status="unavailable") == 1, comp
    finally:
        rc, err = ex.stop()
    assert rc == 0, err


def test_duration_ends_it(binary, empty_root):
    t0 = time.monotonic()
    p = subprocess.run([binary, "serve", "--listen", "127.0.0.1:0", "--interval", "100",
                        "--duration", "0.5"], env=em_env(empty_root), text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert p.returncode == 0, p.stderr
    assert 0.5 <= time.monotonic() - t0 < 10
    assert READY_RE.search(p.stderr), p.stderr


@pytest.mark.parametrize("args", [["--listen", "nonsense"], ["--listen", "1.2.3.4:70000"],
                                  ["--listen", "::1:80"], ["--interval", "5"],
                                  ["--duration", "0"], ["--bogus"], ["extra"]])
def test_bad_usage(run_em, args):
    p = run_em(["serve"] + args)
    assert p.returncode == 2, (args, p.stderr)
    assert p.stderr.startswith("energymeter: ") and p.stderr.count("\n") == 1, p.stderr


def test_port_in_use(binary, empty_root):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        p = subprocess.run([binary, "serve", "--listen", "127.0.0.1:%d" % port],
                           env=em_env(empty_root), text=True, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
    assert p.returncode == 1, p.stderr
    assert "127.0.0.1:%d" % port in p.stderr and "in use" in p.stderr, p.stderr


def test_help(run_em):
    p = run_em(["serve", "--help"])
    assert p.returncode == 0 and "--listen" in p.stdout and "/metrics" in p.stdout
    p = run_em(["--help"])
    assert "serve" in p.stdout and "not in this version" not in p.stdout
