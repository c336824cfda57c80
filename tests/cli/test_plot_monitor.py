"""`stat --plot FILE.svg` and `energymeter monitor`, on fake RAPL trees.

The SVG must be well-formed XML with axes, units, labels and a legend, and
must look right in a browser: headless Chromium renders it to PNG and the
pixels are checked (decoded here with zlib: no imaging library needed).
monitor's powers are checked against the faketree writer's known powers
(intel2: package-0 20 W, package-1 15 W, dram 5 W and 4 W).
"""

import csv
import io
import json
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
import zlib

import pytest

from conftest import check_report, em_env, measure, parse_json
from faketree import check_interval_powers

RANGE_UJ = 10_000_000
SVG_NS = "{http://www.w3.org/2000/svg}"
CPU_BLUE = (0x1f, 0x77, 0xb4)
DRAM_ORANGE = (0xff, 0x7f, 0x0e)


# ------------------------------------------------------------------- SVG

def texts(root):
    return ["".join(t.itertext()) for t in root.iter(SVG_NS + "text")]


def groups(root, cls):
    return [g for g in root.iter(SVG_NS + "g") if cls in g.get("class", "").split()]


def plot_run(binary, tree, tmp_path, extra_args, cmd=("sleep", "1")):
    svg = tmp_path / "plot.svg"
    p, text, _ = measure(binary, tree, ["--json", "--plot", str(svg)] + list(extra_args),
                         list(cmd), str(tmp_path))
    assert p.returncode == 0, p.stderr
    rep = check_report(parse_json(text))
    assert svg.exists(), "no SVG written"
    return rep, svg


def test_plot_svg_with_series(binary, fake_tree, tmp_path):
    tree = fake_tree("intel2", range_uj=RANGE_UJ)
    label = 'Test <Meter> & "friends"'
    rep, svg = plot_run(binary, tree, tmp_path, ["--interval", "100", "--label", label])
    root = ET.parse(str(svg)).getroot()
    assert root.tag == SVG_NS + "svg"
    assert float(root.get("width")) > 0 and float(root.get("height")) > 0
    assert root.get("viewBox")
    all_text = texts(root)
    # The label survives escaping exactly.
    assert root.find(SVG_NS + "title").text == label
    assert label in all_text
    # Both panels, with axis titles in units.
    assert root.find(".//%sg[@id='energy']" % SVG_NS) is not None
    assert root.find(".//%sg[@id='power']" % SVG_NS) is not None
    for want in ("Energy (J)", "Power (W)", "Time since start (s)", "Component"):
        assert want in all_text, (want, all_text)
    # Axes with ticks: y axes of both panels, the x axis of the time panel.
    assert len(groups(root, "y-axis")) == 2 and len(groups(root, "x-axis")) == 1
    for axis in groups(root, "axis"):
        ticks = [t for t in axis.iter(SVG_NS + "text") if t.get("class") == "tick"]
        assert len(ticks) >= 3, texts(axis)
        [float(t.text) for t in ticks]  # numbers
    # Category labels under the bars, one per component plus the total.
    cats = [t.text for t in root.iter(SVG_NS + "text") if t.get("class") == "category"]
    assert cats == list(rep["components"]) + ["total"]
    # Legends name every component; the series legend the measured ones.
    legends = groups(root, "legend")
    assert len(legends) == 2
    entries = [texts(g) for g in legends]
    for name in rep["components"]:
        assert any(e.startswith(name + ":") for e in entries[0]), (name, entries[0])
    assert any(e.startswith("cpu (mean") for e in entries[1]), entries[1]
    assert any(e.startswith("dram (mean") for e in entries[1]), entries[1]
    assert not any(e.startswith("gpu") for e in entries[1])  # unavailable: no line
    # One bar per available component and the total; heights in proportion to joules.
    bars = [r for r in root.iter(SVG_NS + "rect") if r.get("class") == "bar"]
    assert len(bars) == 3  # cpu, dram, total
    h = [float(b.get("height")) for b in bars]
    j = [rep["components"]["cpu"]["joules"], rep["components"]["dram"]["joules"],
         rep["total_joules"]]
    assert abs(h[0] / h[2] - j[0] / j[2]) < 0.01 and abs(h[1] / h[2] - j[1] / j[2]) < 0.01
    # One step line per measured component, one step per sample.
    paths = [p for p in root.iter(SVG_NS + "path") if p.get("class") == "series"]
    assert len(paths) == 2
    nsamples = len(rep["time_series"]["t_s"])
    assert paths[0].get("d").count("H") == nsamples


def test_plot_svg_without_series(binary, fake_tree, tmp_path):
    tree = fake_tree("intel1", range_uj=RANGE_UJ)
    rep, svg = plot_run(binary, tree, tmp_path, [], cmd=("sleep", "0.3"))
    root = ET.parse(str(svg)).getroot()
    assert root.find(".//%sg[@id='energy']" % SVG_NS) is not None
    assert root.find(".//%sg[@id='power']" % SVG_NS) is None
    assert "Energy (J)" in texts(root)
    # psys is drawn but marked as not in the total.
    assert any("psys" in t and "not in total" in t for t in texts(root))
    # Without a label, the heading is the command.
    assert "sleep 0.3" in texts(root)


def test_plot_svg_hostile_label(run_em, tmp_path):
    """Control characters and bytes that are not UTF-8 cannot break the XML."""
    svg = tmp_path / "x.svg"
    label = b"a\x01b\x1b[31m\xff\xfe<\xe2\x82>]]>&#0;"
    p = run_em([b"stat", b"--label", label, b"--plot", str(svg).encode(), b"-o", b"/dev/null",
                b"--", b"true"])
    assert p.returncode == 0, p.stderr
    root = ET.parse(str(svg)).getroot()
    title = root.find(SVG_NS + "title").text
    assert title.startswith("a b ") and "<" in title and "&#0;" in title


def test_plot_unwritable(run_em, tmp_path):
    p = run_em(["stat", "--plot", "/nonexistent/dir/x.svg", "-o", str(tmp_path / "r.txt"), "--",
                "true"])
    assert p.returncode == 1
    assert "plot" in p.stderr and "/nonexistent/dir/x.svg" in p.stderr
    assert (tmp_path / "r.txt").read_text().strip(), "the report was not written"


def test_plot_keeps_command_status(run_em, tmp_path):
    svg = tmp_path / "x.svg"
    p = run_em(["stat", "--plot", str(svg), "--", "sh", "-c", "exit 3"])
    assert p.returncode == 3 and svg.stat().st_size > 500


def test_plot_empty_name_is_usage_error(run_em):
    p = run_em(["stat", "--plot", "", "--", "true"])
    assert p.returncode == 2


# ------------------------------------------------------ rendering (Chromium)

def read_png(path):
    """(width, height, rows of (r, g, b)) of an 8-bit RGB/RGBA PNG, with zlib."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    w, h, depth, ctype, _, _, interlace = ihdr
    assert depth == 8 and ctype in (2, 6) and interlace == 0, ihdr
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(h):
        ftype, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 0xff
            elif ftype == 2:
                line[x] = (line[x] + b) & 0xff
            elif ftype == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xff
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pr) & 0xff
        rows.append([tuple(line[x:x + 3]) for x in range(0, stride, bpp)])
        prev = line
    return w, h, rows


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def render(svg, png, size=(900, 700)):
    exe = chromium()
    if not exe:
        pytest.skip("Chromium is not installed (`make deps` installs Debian's chromium)")
    profile = tempfile.mkdtemp(prefix="em-chromium-")
    try:
        env = dict(os.environ, HOME=profile)
        p = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                            "--no-first-run", "--disable-background-networking",
                            "--disable-component-update", "--disable-sync",
                            "--user-data-dir=" + profile, "--screenshot=" + str(png),
                            "--window-size=%d,%d" % size, "file://" + str(svg)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120,
                           env=env, stdin=subprocess.DEVNULL)
        assert p.returncode == 0 and os.path.exists(png), p.stderr[-2000:]
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def near(px, color, tol=12):
    return all(abs(a - b) <= tol for a, b in zip(px, color))


def test_plot_renders_in_chromium(binary, fake_tree, tmp_path):
    tree = fake_tree("intel2", range_uj=RANGE_UJ)
    _, svg = plot_run(binary, tree, tmp_path, ["--interval", "100", "--label", "render me"])
    root = ET.parse(str(svg)).getroot()
    size = (int(float(root.get("width"))), int(float(root.get("height"))))
    png = tmp_path / "shot.png"
    render(svg, png, size)
    w, h, rows = read_png(str(png))
    assert (w, h) == size
    pixels = [px for row in rows for px in row]
    white = sum(1 for px in pixels if px == (255, 255, 255))
    dark = sum(1 for px in pixels if sum(px) < 150)  # text and axes
    blue = sum(1 for px in pixels if near(px, CPU_BLUE))
    orange = sum(1 for px in pixels if near(px, DRAM_ORANGE))
    assert white < 0.97 * len(pixels), "the rendering is blank"
    assert white > 0.5 * len(pixels), "the background is not white"
    assert dark > 500, "no text or axes drawn (%d dark pixels)" % dark
    # The cpu bar alone is > 50 x 100 px; the dram bar is smaller but solid.
    assert blue > 5000, "cpu bar missing (%d blue pixels)" % blue
    assert orange > 1000, "dram bar missing (%d orange pixels)" % orange
    # The bars are in the upper panel, the power lines in the lower one.
    top_blue = sum(1 for row in rows[:h // 2] for px in row if near(px, CPU_BLUE))
    low_blue = sum(1 for row in rows[h // 2:] for px in row if near(px, CPU_BLUE))
    assert top_blue > 5000 and low_blue > 300, (top_blue, low_blue)


def test_png_decoder_sees_a_blank_image(tmp_path):
    """The checker above can fail: a blank rendering reads as blank."""
    svg = tmp_path / "blank.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100">'
                   '<rect width="200" height="100" fill="#fff"/></svg>')
    png = tmp_path / "blank.png"
    render(svg, png, (200, 100))
    w, h, rows = read_png(str(png))
    assert (w, h) == (200, 100)
    assert all(px == (255, 255, 255) for row in rows for px in row)


# --------------------------------------------------------------- monitor

def monitor(binary, tree, args, timeout=30):
    return subprocess.run([binary, "monitor"] + list(args), env=em_env(tree.root),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def test_monitor_csv_when_piped(binary, fake_tree):
    tree = fake_tree("intel2", range_uj=RANGE_UJ)
    with tree.writer():
        p = monitor(binary, tree, ["--interval", "200", "--duration", "1.5"])
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("t_s,duration_s,total_w,")
    assert sum(1 for ln in lines if ln.startswith("t_s,")) == 1  # header once
    rows = list(csv.DictReader(io.StringIO(p.stdout)))
    assert len(rows) == 8, rows  # 7 full windows and the last 0.1 s
    t = [float(r["t_s"]) for r in rows]
    assert all(b > a for a, b in zip(t, t[1:]))
    assert abs(t[-1] - 1.5) < 0.05, t
    for r in rows[:-1]:
        assert abs(float(r["duration_s"]) - 0.2) < 0.02, r
    assert abs(float(rows[-1]["duration_s"]) - 0.1) < 0.02, rows[-1]
    # The windows are back to back from t = 0: their powers are a series
    # (median window, energy up to each window's end; faketree's
    # check_interval_powers says why one window alone is not checked).
    for col, power in (("cpu/package-0_w", 20.0), ("cpu/package-1_w", 15.0),
                       ("dram/package-0_w", 5.0), ("dram/package-1_w", 4.0), ("cpu_w", 35.0),
                       ("dram_w", 9.0), ("total_w", 44.0)):
        check_interval_powers(t, [float(r[col]) for r in rows], power, col)
    # Unavailable components are empty, never 0.
    assert all(r["gpu_w"] == "" and r["disk_w"] == "" for r in rows)


def test_monitor_json_lines(binary, fake_tree):
    tree = fake_tree("intel2", range_uj=RANGE_UJ)
    with tree.writer():
        p = monitor(binary, tree, ["--json", "--interval", "250", "--duration", "1"])
    assert p.returncode == 0, p.stderr
    objs = [parse_json(ln) for ln in p.stdout.splitlines()]
    assert len(objs) == 4, p.stdout
    for o in objs:
        c = o["components"]
        assert set(c) >= {"cpu", "dram", "gpu", "disk"}
        assert c["gpu"]["watts"] is None and c["gpu"]["status"] == "unavailable"
        # A window ends at its deadline, or later when the process was
        # held up then (28 ms seen on a busy VM; the next one is shorter).
        assert abs(o["duration_s"] - 0.25) < 0.06, o
    t = [o["t_s"] for o in objs]
    for what, power, get in (("cpu", 35.0, lambda o: o["components"]["cpu"]["watts"]),
                             ("cpu/package-0", 20.0,
                              lambda o: o["components"]["cpu"]["devices"]["package-0"]),
                             ("dram/package-1", 4.0,
                              lambda o: o["components"]["dram"]["devices"]["package-1"]),
                             ("total", 44.0, lambda o: o["total_watts"])):
        check_interval_powers(t, [get(o) for o in objs], power, what)


def test_monitor_csv_flag_and_extras(binary, fake_tree):
    tree = fake_tree("intel1", range_uj=RANGE_UJ)
    with tree.writer():
        p = monitor(binary, tree, ["--csv", "-i", "300", "-d", "0.9"])
    assert p.returncode == 0, p.stderr
    rows = list(csv.DictReader(io.StringIO(p.stdout)))
    assert len(rows) == 3
    t = [float(r["t_s"]) for r in rows]
    check_interval_powers(t, [float(r["psys_w"]) for r in rows], 30.0, "psys")
    # psys is not added to the total (it already contains cpu and dram).
    check_interval_powers(t, [float(r["total_w"]) for r in rows], 25.0, "total")


def test_monitor_sigint_stops_cleanly(binary, fake_tree):
    tree = fake_tree("intel2", range_uj=RANGE_UJ)
    with tree.writer():
        proc = subprocess.Popen([binary, "monitor", "--json", "--interval", "100"],
                                env=em_env(tree.root), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        first = proc.stdout.readline()
        assert first, proc.stderr.read()
        time.sleep(0.35)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        stopped_in = time.monotonic() - t0
    assert proc.returncode == 0, (proc.returncode, err)
    assert err == ""
    assert stopped_in < 1.0, stopped_in
    lines = [first] + out.splitlines()
    assert len(lines) >= 3
    for ln in lines:  # every line complete, no partial window
        o = json.loads(ln)
        assert abs(o["duration_s"] - 0.1) < 0.02, o


def test_monitor_sigterm_and_table(binary, fake_tree):
    """--table on a pipe: the refreshed table; SIGTERM also stops with 0."""
    tree = fake_tree("intel2", range_uj=RANGE_UJ)
    with tree.writer():
        proc = subprocess.Popen([binary, "monitor", "--table", "--interval", "100"],
                                env=em_env(tree.root), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "\033[2J" in out
    last = out.split("\033[2J")[-1]
    assert "package-0" in last and "total" in last and " W" in last
    assert "unavailable" in last  # gpu and disk, with their reason


@pytest.mark.parametrize("args", [
    ["--interval", "0"],
    ["--interval", "abc"],
    ["--duration", "-1"],
    ["--duration", "0"],
    ["--json", "--csv"],
    ["extra"],
    ["--bogus"],
    ["--interval"],
], ids=lambda a: " ".join(a))
def test_monitor_bad_usage(run_em, args):
    p = run_em(["monitor"] + args)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert p.stderr.startswith("energymeter:") and len(p.stderr.strip().splitlines()) == 1
    assert p.stdout == ""


def test_monitor_help(run_em):
    p = run_em(["monitor", "--help"])
    assert p.returncode == 0
    for opt in ("--interval", "--duration", "--json", "--csv"):
        assert opt in p.stdout
    assert "monitor" in run_em(["--help"]).stdout


def test_monitor_without_sources(run_em):
    """No RAPL at all: it still runs, every value empty, never a silent 0."""
    p = run_em(["monitor", "--csv", "--interval", "100", "--duration", "0.3"])
    assert p.returncode == 0, p.stderr
    rows = list(csv.DictReader(io.StringIO(p.stdout)))
    assert len(rows) == 3
    for r in rows:
        assert r["cpu_w"] == "" and r["dram_w"] == ""
