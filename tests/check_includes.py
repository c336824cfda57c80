#!/usr/bin/env python3
"""The include rule of docs/ARCHITECTURE.md, checked on the tree (make test).

Data flows one way, sources -> core -> report -> outputs, and each folder of
src/ may include only the folders below it in that flow:

    util/     util/ (and the public header)
    core/     core/, util/
    sources/  core/, util/, sources/sources.h, and its own file or folder only
    report/   report/, core/, util/
    outputs/  outputs/, report/, util/   (never a source, never core/ itself)
    api/      everything in src/
    tools/    tools/ and the public header only (the CLI is a client of the library)

An include is resolved as the compiler does: beside the including file first,
then under src/, then under include/. A quoted include that resolves nowhere
is an error too, but for the headers the build generates (build/gen).

    check_includes.py [--root DIR]   check the tree at DIR (default: here)
    check_includes.py --self-test    check that each kind of violation is caught
"""

import argparse
import os
import re
import sys
import tempfile

GENERATED = {"blkio.skel.h", "vmlinux.h", "floor.skel.h"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)

ALLOWED = {
    "util": {"util"},
    "core": {"core", "util"},
    "sources": {"core", "util"},  # plus its own room and sources/sources.h (below)
    "report": {"report", "core", "util"},
    "outputs": {"outputs", "report", "util"},
    "api": {"api", "sources", "core", "report", "outputs", "util"},
}


def place(root, path):
    """(stage, room) of a file: stage 'util', 'sources'...; room is the
    source's own file or folder under sources/ (None elsewhere)."""
    rel = os.path.relpath(path, root).split(os.sep)
    if rel[0] == "include":
        return "include", None
    if rel[0] == "tools":
        return "tools", None
    if rel[0] != "src" or len(rel) < 3:
        return "src", None
    stage = rel[1]
    room = None
    if stage == "sources" and len(rel) >= 3:
        room = rel[2] if len(rel) > 3 else os.path.splitext(rel[2])[0]
    return stage, room


def resolve(root, including, name):
    for base in (os.path.dirname(including), os.path.join(root, "src"),
                 os.path.join(root, "include")):
        p = os.path.normpath(os.path.join(base, name))
        if os.path.isfile(p):
            return p
    return None


def allowed(root, src, dst):
    s_stage, s_room = place(root, src)
    d_stage, d_room = place(root, dst)
    if d_stage == "include":
        return True
    if s_stage == "tools":
        return d_stage == "tools"
    if d_stage == "tools":
        return False
    if s_stage not in ALLOWED:
        return True  # a file straight under src/ (none today)
    if d_stage in ALLOWED[s_stage]:
        return True
    if s_stage == "sources" and d_stage == "sources":
        rel = os.path.relpath(dst, os.path.join(root, "src", "sources"))
        return rel == "sources.h" or s_room is None or d_room == s_room
    return False


def files(root):
    for top in ("src", "tools", "include"):
        for d, _, names in os.walk(os.path.join(root, top)):
            for n in sorted(names):
                if n.endswith((".c", ".h")):
                    yield os.path.join(d, n)


def check(root):
    problems = []
    for path in files(root):
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for m in INCLUDE.finditer(text):
            name = m.group(1)
            line = text.count("\n", 0, m.start()) + 1
            where = "%s:%d" % (os.path.relpath(path, root), line)
            dst = resolve(root, path, name)
            if dst is None:
                if os.path.basename(name) not in GENERATED:
                    problems.append('%s: "%s" is not a file of the tree' % (where, name))
                continue
            if not allowed(root, path, dst):
                problems.append("%s: %s may not include %s (see docs/ARCHITECTURE.md)" % (
                    where, place(root, path)[0] + "/", os.path.relpath(dst, root)))
    return problems


def self_test():
    """Each rule, broken once in a small tree, must be reported; a tree that
    keeps them must not be."""
    cases = {
        "src/core/a.c": ('#include "report/r.h"\n', True),
        "src/outputs/b.c": ('#include "sources/x.h"\n', True),
        "src/outputs/c.c": ('#include "core/k.h"\n', True),
        "src/util/d.c": ('#include "core/k.h"\n', True),
        "src/report/e.c": ('#include "outputs/o.h"\n', True),
        "src/sources/x.c": ('#include "y/y.h"\n', True),   # another source's room
        "src/api/f.c": ('#include "../../tools/t.h"\n', True),
        "tools/g.c": ('#include "core/k.h"\n', True),
        "src/core/h.c": ('#include "missing.h"\n', True),
        "src/sources/y/y.c": ('#include "y.h"\n#include "sources/sources.h"\n'
                              '#include "core/k.h"\n#include "util/u.h"\n', False),
        "src/outputs/i.c": ('#include "report/r.h"\n#include "util/u.h"\n', False),
        "src/api/j.c": ('#include "sources/x.h"\n#include "outputs/o.h"\n', False),
        "tools/k.c": ('#include "t.h"\n#include "energymeter/energymeter.h"\n', False),
    }
    headers = ["src/report/r.h", "src/sources/x.h", "src/sources/y/y.h", "src/core/k.h",
               "src/util/u.h", "src/outputs/o.h", "tools/t.h", "src/sources/sources.h",
               "include/energymeter/energymeter.h"]
    with tempfile.TemporaryDirectory() as root:
        for rel in headers:
            os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
            open(os.path.join(root, rel), "w").close()
        for rel, (text, _) in cases.items():
            os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
            with open(os.path.join(root, rel), "w") as f:
                f.write(text)
        found = check(root)
    bad = []
    for rel, (_, broken) in cases.items():
        reported = any(p.startswith(rel + ":") for p in found)
        if reported != broken:
            bad.append("%s: %s" % (rel, "not caught" if broken else "wrongly reported"))
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=".")
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    problems = self_test() if args.self_test else check(args.root)
    for p in problems:
        print("check_includes: " + p, file=sys.stderr)
    if not problems:
        print("check_includes: %s" % ("each rule is enforced" if args.self_test
                                      else "every include keeps the layout's rule"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
