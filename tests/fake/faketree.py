#!/usr/bin/python3
"""Fake powercap (RAPL) sysfs trees and a writer that moves their counters.

Tests point ENERGYMETER_SYSFS_ROOT at a directory built here. The tree
mirrors the real layout, symbolic links included:

    DIR/sys/class/powercap/intel-rapl      -> ../../devices/virtual/powercap/intel-rapl
    DIR/sys/class/powercap/intel-rapl:0    -> ../../devices/virtual/powercap/intel-rapl/intel-rapl:0
    DIR/sys/class/powercap/intel-rapl:0:0  ->
        ../../devices/virtual/powercap/intel-rapl/intel-rapl:0/intel-rapl:0:0
    DIR/sys/devices/virtual/powercap/intel-rapl/intel-rapl:0/{name,energy_uj,max_energy_range_uj,
                                                             constraint_0_max_power_uw,enabled,...}

"intel-rapl" itself is the control type (no energy_uj): the tool must ignore it.

The writer is a separate process (this file run as `faketree.py write DIR`)
that sets every zone's energy_uj, about every 5 ms, to

    raw(t) = (offset_uj + int(P * (t - base) * 1e6)) mod (max_energy_range_uj + 1)

rewriting the file in place (same inode: pwrite at offset 0, then ftruncate),
so a small max_energy_range_uj makes the counter wrap several times a second.
`t` is CLOCK_MONOTONIC, shared by all processes, so the parent knows the
ground truth: a zone at constant power P consumed P * (t2 - t1) joules
between t1 and t2, whatever happens to its counter. Faults can be scheduled
while the writer runs (commands on its stdin, one JSON object a line):

    {"op": "reset",  "zone": "intel-rapl:0", "at": T}  counter restarts from 0 at T
    {"op": "vanish", "zone": "intel-rapl:0", "at": T}  energy_uj is deleted at T
    {"op": "stop"}                                      the writer exits

The writer exits too when its stdin reaches EOF (the parent died).

Python API:

    tree = FakeTree.build(root, "intel1", range_uj=10_000_000)
    with tree.writer() as w:                # started, first values written
        w.reset("intel-rapl:0", at=time.monotonic() + 1.0)
        ...
    tree.true_joules("intel-rapl:0", t1, t2)   # P * (t2 - t1)

Command line (stdlib only, /usr/bin/python3):

    faketree.py build DIR --layout intel1|intel2|amd|empty [--range UJ] [--power ZONE=W ...]
    faketree.py write DIR          # the writer; runs until stdin EOF or {"op":"stop"}
    faketree.py selftest           # builds each layout, runs the writer, checks wraps
"""

import argparse
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

SPEC_NAME = "faketree.json"
CONTROL = "intel-rapl"
POWERCAP_REL = os.path.join("sys", "devices", "virtual", "powercap")
DEVICES_REL = os.path.join(POWERCAP_REL, CONTROL)
CLASS_REL = os.path.join("sys", "class", "powercap")
REAL_RANGE_UJ = 262143328850  # what Intel packages state

# Zone id -> (name, parent id or None, default power W). Power is the
# constant power the writer applies; constraint_0_max_power_uw defaults to
# 2x that power (see FakeTree.build).
LAYOUTS = {
    # Intel client/server, one socket: package with core/uncore/dram
    # subzones, plus the platform-wide psys zone.
    "intel1": [
        ("intel-rapl:0", "package-0", None, 20.0),
        ("intel-rapl:0:0", "core", "intel-rapl:0", 10.0),
        ("intel-rapl:0:1", "uncore", "intel-rapl:0", 2.0),
        ("intel-rapl:0:2", "dram", "intel-rapl:0", 5.0),
        ("intel-rapl:1", "psys", None, 30.0),
    ],
    # Intel server, two sockets, each with a dram subzone.
    "intel2": [
        ("intel-rapl:0", "package-0", None, 20.0),
        ("intel-rapl:0:0", "dram", "intel-rapl:0", 5.0),
        ("intel-rapl:1", "package-1", None, 15.0),
        ("intel-rapl:1:0", "dram", "intel-rapl:1", 4.0),
    ],
    # AMD (amd_energy through intel-rapl powercap): package and core, no dram.
    "amd": [
        ("intel-rapl:0", "package-0", None, 20.0),
        ("intel-rapl:0:0", "core", "intel-rapl:0", 12.0),
    ],
    # Intel client with the MMIO RAPL interface too (Tiger Lake and later):
    # intel-rapl-mmio:0 is package-0 again, through another driver. The
    # writer moves it like intel-rapl:0; counting both would double the cpu.
    "intel1mmio": [
        ("intel-rapl:0", "package-0", None, 20.0),
        ("intel-rapl:0:0", "core", "intel-rapl:0", 10.0),
        ("intel-rapl:0:2", "dram", "intel-rapl:0", 5.0),
        ("intel-rapl-mmio:0", "package-0", None, 20.0),
    ],
    # powercap class directory exists but no RAPL zones at all.
    "empty": [],
}


def zone_rel_dir(zone_id):
    """Path of a zone's real directory, relative to the tree root."""
    parts = zone_id.split(":")
    path = os.path.join(POWERCAP_REL, parts[0])
    for i in range(2, len(parts) + 1):
        path = os.path.join(path, ":".join(parts[:i]))
    return path


def _write_file(path, text, mode=0o444):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


class FakeTree:
    """A fake powercap tree under root (the ENERGYMETER_SYSFS_ROOT)."""

    def __init__(self, root, spec):
        self.root = root
        self.spec = spec
        self.zones = {z["id"]: z for z in spec["zones"]}

    # ------------------------------------------------------------ building
    @classmethod
    def build(cls, root, layout="intel1", range_uj=10_000_000, powers=None,
              max_power_factor=2.0, max_power_uw=None, offsets=None,
              energy_mode=0o444, with_constraints=True, t0=None):
        """Build the tree and write its spec (root/faketree.json).

        powers: {zone id: W} overriding the layout's defaults.
        range_uj: max_energy_range_uj of every zone (int), or {zone id: int}.
        max_power_uw: {zone id: uW or None} (None: no constraint_0_max_power_uw);
            default max_power_factor x power.
        offsets: {zone id: uJ} initial counter value (default spread so that
            zones do not wrap in step).
        energy_mode: file mode of every energy_uj (0o400 for the
            CVE-2020-8694 root-only case).
        """
        if layout not in LAYOUTS:
            raise ValueError("unknown layout %r (one of %s)" % (layout, ", ".join(LAYOUTS)))
        powers = dict(powers or {})
        offsets = dict(offsets or {})
        max_power_uw = dict(max_power_uw or {})
        os.makedirs(root, exist_ok=True)
        zones = []
        for i, (zid, name, parent, watts) in enumerate(LAYOUTS[layout]):
            rng = range_uj[zid] if isinstance(range_uj, dict) else range_uj
            p = float(powers.get(zid, watts))
            if zid in max_power_uw:
                mp = max_power_uw[zid]
            elif with_constraints:
                mp = int(p * max_power_factor * 1e6)
            else:
                mp = None
            off = int(offsets.get(zid, (rng + 1) * (0.15 + 0.13 * i) % (rng + 1)))
            zones.append({"id": zid, "name": name, "parent": parent, "power_w": p,
                          "range_uj": int(rng), "max_power_uw": mp, "offset_uj": off})
        spec = {"layout": layout, "t0": time.monotonic() if t0 is None else t0,
                "zones": zones, "period_s": 0.005}

        cls_dir = os.path.join(root, CLASS_REL)
        os.makedirs(cls_dir, exist_ok=True)
        for control in sorted(set(z["id"].split(":")[0] for z in zones)):
            dev = os.path.join(root, POWERCAP_REL, control)
            os.makedirs(dev, exist_ok=True)
            _write_file(os.path.join(dev, "enabled"), "1\n", 0o644)
            _write_file(os.path.join(dev, "uevent"), "", 0o644)
            os.symlink(os.path.relpath(dev, cls_dir), os.path.join(cls_dir, control))
        tree = cls(root, spec)
        for z in zones:
            d = os.path.join(root, zone_rel_dir(z["id"]))
            os.makedirs(d, exist_ok=True)
            _write_file(os.path.join(d, "name"), z["name"] + "\n")
            _write_file(os.path.join(d, "max_energy_range_uj"), "%d\n" % z["range_uj"])
            _write_file(os.path.join(d, "enabled"), "1\n", 0o644)
            _write_file(os.path.join(d, "uevent"), "", 0o644)
            raw0 = tree.raw_at(z, spec["t0"], spec["t0"])
            _write_file(os.path.join(d, "energy_uj"), "%d\n" % raw0, energy_mode)
            _write_file(os.path.join(d, "constraint_0_name"), "long_term\n")
            _write_file(os.path.join(d, "constraint_0_power_limit_uw"),
                        "%d\n" % int(z["power_w"] * 1.5e6), 0o644)
            _write_file(os.path.join(d, "constraint_0_time_window_us"), "999424\n", 0o644)
            if z["max_power_uw"] is not None:
                _write_file(os.path.join(d, "constraint_0_max_power_uw"),
                            "%d\n" % z["max_power_uw"])
            os.symlink(os.path.relpath(d, cls_dir), os.path.join(cls_dir, z["id"]))
        tree.save()
        return tree

    @classmethod
    def load(cls, root):
        with open(os.path.join(root, SPEC_NAME)) as f:
            return cls(root, json.load(f))

    def save(self):
        with open(os.path.join(self.root, SPEC_NAME), "w") as f:
            json.dump(self.spec, f, indent=1)

    # --------------------------------------------------------------- paths
    def zone_dir(self, zone_id):
        return os.path.join(self.root, zone_rel_dir(zone_id))

    def energy_path(self, zone_id):
        return os.path.join(self.zone_dir(zone_id), "energy_uj")

    def read_raw(self, zone_id):
        with open(self.energy_path(zone_id)) as f:
            return int(f.read().split()[0])

    def zone_ids(self):
        return [z["id"] for z in self.spec["zones"]]

    def chmod_tree(self, dir_mode=0o755):
        """Make every directory traversable (for tests run as nobody)."""
        for dirpath, dirnames, _ in os.walk(self.root):
            os.chmod(dirpath, dir_mode)

    # --------------------------------------------------------- ground truth
    @staticmethod
    def raw_at(zone, t, base_t, offset_uj=None):
        """Counter value at monotonic t of a zone counting from offset at base_t."""
        off = zone["offset_uj"] if offset_uj is None else offset_uj
        return (off + int(zone["power_w"] * (t - base_t) * 1e6)) % (zone["range_uj"] + 1)

    def power(self, zone_id):
        return self.zones[zone_id]["power_w"]

    def true_joules(self, zone_id, t1, t2):
        """Energy the zone really consumed between monotonic times t1 and t2."""
        return self.zones[zone_id]["power_w"] * (t2 - t1)

    def true_energy(self, zone_id, t):
        """Energy consumed since the tree's t0 (monotonic) up to t."""
        return self.zones[zone_id]["power_w"] * (t - self.spec["t0"])

    def ids_named(self, name):
        return [z["id"] for z in self.spec["zones"] if z["name"] == name]

    # --------------------------------------------------------------- writer
    def writer(self):
        return Writer(self)


class Writer:
    """The writer process. Use as a context manager, or start()/stop()."""

    def __init__(self, tree):
        self.tree = tree
        self.proc = None

    def start(self, timeout=10.0):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "write", self.tree.root],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        # Wait for "ready": every zone has been written at least once.
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if r else ""
        if line.strip() != "ready":
            self.stop()
            raise RuntimeError("faketree writer did not start (got %r)" % line)
        return self

    def _send(self, obj):
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def reset(self, zone_id, at):
        """Counter of zone_id restarts from 0 at monotonic time `at`."""
        self._send({"op": "reset", "zone": zone_id, "at": at})

    def vanish(self, zone_id, at):
        """energy_uj of zone_id is deleted at monotonic time `at`."""
        self._send({"op": "vanish", "zone": zone_id, "at": at})

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None:
            return
        try:
            if self.proc.poll() is None:
                try:
                    self._send({"op": "stop"})
                except (BrokenPipeError, OSError):
                    pass
                try:
                    self.proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        finally:
            for f in (self.proc.stdin, self.proc.stdout):
                try:
                    f.close()
                except OSError:
                    pass
            self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ------------------------------------------------------- checking a series

# The longest the writer may be held up by the scheduler while a series
# runs: CI has seen 65 ms on a busy 2-CPU VM (before it ran at a real-time
# priority).
WRITER_LAG_S = 0.1


def check_interval_powers(t, watts, power, what):
    """A series of mean powers over the intervals ending at t (the first
    starting at 0) against a zone the writer moves at `power`.

    The writer's counter is power x (time of its last write). A write held
    up by the scheduler makes the interval it straddles short by the lag and
    the next long by as much, so one interval alone says little, while the
    energy up to any sample is off by at most power x lag. Checked: every
    interval drew power; the median interval is within 2 % plus one writer
    step (5 ms) of its length (a single interval is off by up to a step,
    and the median of a few need not average that out; a bias of more does
    not go away); the energy up to every sample is within power x
    WRITER_LAG_S of power x time (a lost, doubled or misplaced interval of
    100 ms or more breaks it)."""
    assert len(t) == len(watts), what
    assert all(x > 0 for x in watts), (what, watts)
    full = sorted(watts[1:-1])
    assert full, (what, watts)
    median = full[len(full) // 2]
    step = 0.005 / ((t[-2] - t[0]) / max(1, len(t) - 2))  # a writer step over a mean interval
    assert abs(median - power) <= (0.02 + step) * power, (what, "median", median, watts)
    energy, prev = 0.0, 0.0
    for i, (ti, w) in enumerate(zip(t, watts)):
        energy += w * (ti - prev)
        prev = ti
        assert abs(energy - power * ti) <= power * WRITER_LAG_S, \
            (what, "energy up to sample %d" % i, energy, power * ti, watts)


# ------------------------------------------------------------ writer process
def writer_main(root):
    # The counters must track their power closely while the measured run
    # loads the machine: on a busy 2-CPU VM a writer at normal priority was
    # held up for 65 ms, which the tests' energy checks (P x ~10 ms of
    # staleness) took for an error of the meter. Where allowed (root, as in
    # CI) the writer runs at a real-time priority; it sleeps 5 ms between
    # passes, so it takes little from the rest.
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    except (AttributeError, PermissionError, OSError):
        pass
    tree = FakeTree.load(root)
    zones = tree.spec["zones"]
    t0 = tree.spec["t0"]
    period = tree.spec.get("period_s", 0.005)
    state = {}
    for z in zones:
        fd = os.open(tree.energy_path(z["id"]), os.O_WRONLY)
        state[z["id"]] = {"fd": fd, "base_t": t0, "offset": z["offset_uj"], "len": None}
    pending = []  # (at, op, zone)

    def write_all(now):
        for z in zones:
            s = state[z["id"]]
            if s["fd"] is None:
                continue
            raw = FakeTree.raw_at(z, now, base_t=s["base_t"], offset_uj=s["offset"])
            data = ("%d\n" % raw).encode()
            # In place: same inode, never rename. Write, then cut what is left
            # of a longer previous value.
            os.pwrite(s["fd"], data, 0)
            if s["len"] is None or len(data) < s["len"]:
                os.ftruncate(s["fd"], len(data))
            s["len"] = len(data)

    def apply_due(now):
        keep = []
        for at, op, zid in pending:
            if at > now:
                keep.append((at, op, zid))
                continue
            s = state.get(zid)
            if s is None:
                continue
            if op == "reset":
                s["base_t"] = at
                s["offset"] = 0
            elif op == "vanish" and s["fd"] is not None:
                os.close(s["fd"])
                s["fd"] = None
                try:
                    os.unlink(tree.energy_path(zid))
                except FileNotFoundError:
                    pass
        pending[:] = keep

    write_all(time.monotonic())
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    stdin = sys.stdin.buffer
    buf = b""
    while True:
        now = time.monotonic()
        apply_due(now)
        write_all(now)
        timeout = period
        if pending:
            timeout = max(0.0, min(period, min(p[0] for p in pending) - time.monotonic()))
        r, _, _ = select.select([stdin], [], [], timeout)
        if r:
            chunk = os.read(stdin.fileno(), 65536)
            if not chunk:
                return 0  # parent gone
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if not line.strip():
                    continue
                cmd = json.loads(line)
                if cmd["op"] == "stop":
                    return 0
                pending.append((float(cmd["at"]), cmd["op"], cmd["zone"]))


# ----------------------------------------------------------------- self test
def selftest():
    ok = True
    for layout in ("intel1", "intel2", "amd", "intel1mmio", "empty"):
        root = tempfile.mkdtemp(prefix="faketree-")
        try:
            tree = FakeTree.build(root, layout, range_uj=10_000_000)
            cls_dir = os.path.join(root, CLASS_REL)
            entries = sorted(os.listdir(cls_dir))
            for e in entries:
                p = os.path.join(cls_dir, e)
                assert os.path.islink(p), p
                assert os.path.isdir(p), p
            want = sorted(tree.zone_ids() + list(set(z.split(":")[0] for z in tree.zone_ids())))
            assert entries == want, (entries, want)
            if layout == "intel1":
                assert os.readlink(os.path.join(cls_dir, "intel-rapl:0")) == \
                    "../../devices/virtual/powercap/intel-rapl/intel-rapl:0"
                assert os.readlink(os.path.join(cls_dir, "intel-rapl:0:0")) == \
                    "../../devices/virtual/powercap/intel-rapl/intel-rapl:0/intel-rapl:0:0"
                assert os.readlink(os.path.join(cls_dir, "intel-rapl")) == \
                    "../../devices/virtual/powercap/intel-rapl"
                assert not os.path.exists(os.path.join(cls_dir, "intel-rapl", "energy_uj"))
            if not tree.zone_ids():
                print("%-7s ok (no zones)" % layout)
                continue
            inodes = {z: os.stat(tree.energy_path(z)).st_ino for z in tree.zone_ids()}
            # Read the counters through the class symlinks, as the tool does.
            paths = {z: os.path.join(cls_dir, z, "energy_uj") for z in tree.zone_ids()}
            with tree.writer():
                t_start = time.monotonic()
                prev = {z: int(open(paths[z]).read()) for z in paths}
                acc = {z: 0 for z in paths}
                wraps = {z: 0 for z in paths}
                while time.monotonic() - t_start < 2.0:
                    time.sleep(0.02)
                    for z, p in paths.items():
                        cur = int(open(p).read())
                        rng = tree.zones[z]["range_uj"]
                        if cur < prev[z]:
                            wraps[z] += 1
                            acc[z] += cur + rng + 1 - prev[z]
                        else:
                            acc[z] += cur - prev[z]
                        prev[z] = cur
                t_end = time.monotonic()
            for z in paths:
                got = acc[z] / 1e6
                truth = tree.true_joules(z, t_start, t_end)
                err = abs(got - truth) / truth
                same = os.stat(tree.energy_path(z)).st_ino == inodes[z]
                good = err < 0.01 and same
                ok &= good
                print("%-7s %-15s %-10s P=%5.1f W  %6.3f J vs truth %6.3f J (%.2f%%)  "
                      "wraps=%d inode-kept=%s %s" % (layout, z, tree.zones[z]["name"],
                                                     tree.power(z), got, truth, 100 * err,
                                                     wraps[z], same, "ok" if good else "BAD"))
            # Faults.
            tree2 = FakeTree.build(os.path.join(root, "faults"), layout,
                                   range_uj=100_000_000, offsets={"intel-rapl:0": 50_000_000})
            with tree2.writer() as w:
                now = time.monotonic()
                w.reset("intel-rapl:0", now + 0.2)
                last = tree2.zone_ids()[-1]
                w.vanish(last, now + 0.2)
                time.sleep(0.05)
                before = tree2.read_raw("intel-rapl:0")
                time.sleep(0.3)
                after = tree2.read_raw("intel-rapl:0")
                gone = not os.path.exists(tree2.energy_path(last))
            good = before > 50_000_000 and after < 6_000_000 and gone
            ok &= good
            print("%-7s reset %d -> %d, vanished %s: %s" % (layout, before, after, gone,
                                                           "ok" if good else "BAD"))
        finally:
            shutil.rmtree(root, ignore_errors=True)
    print("selftest", "passed" if ok else "FAILED")
    return 0 if ok else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build a fake tree in DIR")
    b.add_argument("dir")
    b.add_argument("--layout", default="intel1", choices=sorted(LAYOUTS))
    b.add_argument("--range", type=int, default=10_000_000, help="max_energy_range_uj")
    b.add_argument("--power", action="append", default=[], metavar="ZONE=W")
    b.add_argument("--energy-mode", type=lambda s: int(s, 8), default=0o444)
    w = sub.add_parser("write", help="run the writer on DIR (until stdin EOF)")
    w.add_argument("dir")
    sub.add_parser("selftest", help="check layouts, writer, wraps and faults")
    args = ap.parse_args(argv)
    if args.cmd == "build":
        powers = {}
        for item in args.power:
            zid, _, watts = item.partition("=")
            powers[zid] = float(watts)
        tree = FakeTree.build(args.dir, args.layout, range_uj=args.range, powers=powers,
                              energy_mode=args.energy_mode)
        for z in tree.spec["zones"]:
            print("%-15s %-10s %6.1f W  range %d uJ" % (z["id"], z["name"], z["power_w"],
                                                       z["range_uj"]))
        return 0
    if args.cmd == "write":
        return writer_main(args.dir)
    return selftest()


if __name__ == "__main__":
    sys.exit(main())
