"""I/O of known sizes for tests/cli/test_disk.py and bench/bench_disk.py.

  disk_workload.py direct-write PATH BYTES     O_DIRECT writes, 1 MiB at a time
  disk_workload.py direct-read PATH BYTES      O_DIRECT reads, 1 MiB at a time
  disk_workload.py read PATH                   buffered read of the whole file
  disk_workload.py write-fsync PATH BYTES      buffered write, then fsync
  disk_workload.py writer PATH BYTES           O_DIRECT rewrites of PATH until killed
  disk_workload.py paced PATH N PAUSE_S OUT    N O_DIRECT 1 MiB writes, PAUSE_S apart;
                                               writes the seconds spent inside them to OUT

O_DIRECT needs aligned buffers: an anonymous mmap is page-aligned.
"""

import mmap
import os
import sys
import time

CHUNK = 1 << 20


def direct(path, nbytes, write):
    flags = (os.O_WRONLY | os.O_CREAT) if write else os.O_RDONLY
    fd = os.open(path, flags | os.O_DIRECT, 0o644)
    buf = mmap.mmap(-1, CHUNK)
    buf.write(b"\xa5" * CHUNK)
    try:
        done = 0
        while done < nbytes:
            n = min(CHUNK, nbytes - done)
            view = memoryview(buf)[:n]
            got = os.pwritev(fd, [view], done) if write else os.preadv(fd, [view], done)
            if got != n:
                raise SystemExit("short %s: %d of %d" % ("write" if write else "read", got, n))
            done += n
    finally:
        os.close(fd)


def paced(path, count, pause, out):
    """Writes one at a time with idle pauses between them: the device can be
    busy only inside the write calls, so their summed time bounds its busy
    time from above."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_DIRECT, 0o644)
    buf = mmap.mmap(-1, CHUNK)
    buf.write(b"\x3c" * CHUNK)
    inside = 0.0
    try:
        for i in range(count):
            t0 = time.monotonic()
            if os.pwritev(fd, [buf], i * CHUNK) != CHUNK:
                raise SystemExit("short write")
            inside += time.monotonic() - t0
            time.sleep(pause)
    finally:
        os.close(fd)
    with open(out, "w") as f:
        f.write("%.9f\n" % inside)


def main(argv):
    op, path = argv[1], argv[2]
    if op == "direct-write":
        direct(path, int(argv[3]), True)
    elif op == "direct-read":
        direct(path, int(argv[3]), False)
    elif op == "read":
        with open(path, "rb") as f:
            while f.read(CHUNK):
                pass
    elif op == "write-fsync":
        nbytes = int(argv[3])
        block = b"\x5a" * CHUNK
        with open(path, "wb") as f:
            for _ in range(nbytes // CHUNK):
                f.write(block)
            f.flush()
            os.fsync(f.fileno())
    elif op == "paced":
        paced(path, int(argv[3]), float(argv[4]), argv[5])
    elif op == "writer":
        nbytes = int(argv[3])
        while True:
            direct(path, nbytes, True)
    else:
        raise SystemExit("unknown operation %r" % op)


if __name__ == "__main__":
    main(sys.argv)
