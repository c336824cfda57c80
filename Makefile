# energymeter build. `make` builds build/energymeter and build/libenergymeter.{so,a};
# `make run` and `make test` first install what they need (`deps`), as root on Debian.

PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
CC      ?= cc
PYTHON  ?= /usr/bin/python3

# Debian packages the build, tests and benchmarks need (checked with dpkg, installed if missing).
DEB_PACKAGES := gcc make libc6-dev libcmocka-dev libcjson-dev libmicrohttpd-dev python3 \
                python3-pytest python3-pytest-rerunfailures valgrind util-linux clang-format \
                prometheus

ifeq ($(V),1)
Q :=
else
Q := @
endif

CSTD     := -std=c11 -D_GNU_SOURCE
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
OPT      ?= -O2 -g
SANFLAGS ?=
CFLAGS_ALL = $(CSTD) $(WARN) $(OPT) $(SANFLAGS) -fPIC -fvisibility=hidden -pthread \
              -Iinclude -Isrc -I$(BUILD)/gen $(EXTRA_CFLAGS) $(CFLAGS)
LDFLAGS_ALL = $(SANFLAGS) -pthread $(LDFLAGS)
LIBS := -lcjson -ldl -lm

# Every C file under src/ but the eBPF programs (src/**/bpf/*.bpf.c, built by mk/bpf.mk).
LIB_SRCS  := $(sort $(shell find src -name '*.c' -not -name '*.bpf.c'))
LIB_OBJS  := $(LIB_SRCS:src/%.c=$(BUILD)/obj/src/%.o)
CLI_SRCS  := $(sort $(wildcard tools/*.c))
CLI_OBJS  := $(CLI_SRCS:tools/%.c=$(BUILD)/obj/tools/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_SRCS := $(sort $(wildcard bench/*.c))
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)
HEADERS   := $(wildcard include/energymeter/*.h tools/*.h) $(shell find src -name '*.h')

SOVERSION := 0
comma := ,

# Pieces of the build that belong to one source or test fixture live in mk/*.mk
# (eBPF skeletons, the fake NVML library...). They may add to these:
#   DEB_PACKAGES  Debian packages needed     LIBS          extra link flags of the library
#   TEST_DEPS     built before unit/pytest   GEN_HEADERS   generated headers objects need
#   EXTRA_CFLAGS  extra compiler flags       BENCH_DEPS    built before bench
TEST_DEPS :=
GEN_HEADERS :=
EXTRA_CFLAGS :=
BENCH_DEPS :=
# The CLI alone serves HTTP (`energymeter serve`); the library does not link it.
# NO_SERVE=1 builds a CLI without it (the GPU bundle, for machines without
# libmicrohttpd): serve then says so and exits 2.
ifeq ($(NO_SERVE),)
CLI_LIBS := -lmicrohttpd
else
CLI_LIBS :=
EXTRA_CFLAGS += -DEM_NO_SERVE
endif
# The first rule of the included files must not become the default goal.
.DEFAULT_GOAL := all

include $(sort $(wildcard mk/*.mk))

.PHONY: all deps run run-now test test-now unit pytest check-asan check-valgrind check-includes bench \
        bench-now install \
        uninstall clean format \
        format-check

all: $(BUILD)/energymeter $(BUILD)/libenergymeter.so $(BUILD)/libenergymeter.a

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null \
	  || { echo "deps: could not install$$missing (run as root on Debian)" >&2; exit 1; }; \
	fi

$(BUILD)/obj/src/%.o: src/%.c $(HEADERS) $(GEN_HEADERS)
	@mkdir -p $(dir $@)
	@[ "$(Q)" = "" ] || echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/obj/tools/%.o: tools/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	@[ "$(Q)" = "" ] || echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/libenergymeter.a: $(LIB_OBJS)
	@[ "$(Q)" = "" ] || echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/libenergymeter.so: $(LIB_OBJS) src/libenergymeter.map
	@[ "$(Q)" = "" ] || echo "  LD      $@"
	$(Q)$(CC) -shared -Wl,-soname,libenergymeter.so.$(SOVERSION) \
	  -Wl,--version-script=src/libenergymeter.map $(LDFLAGS_ALL) -o $@ $(LIB_OBJS) $(LIBS)
	@# Programs linked against the build's library look for its soname.
	$(Q)ln -sf libenergymeter.so $(BUILD)/libenergymeter.so.$(SOVERSION)

# The CLI links the static library: one self-contained binary.
$(BUILD)/energymeter: $(CLI_OBJS) $(BUILD)/libenergymeter.a
	@[ "$(Q)" = "" ] || echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $(CLI_OBJS) $(BUILD)/libenergymeter.a $(LIBS) $(CLI_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libenergymeter.a $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	@[ "$(Q)" = "" ] || echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes -Itests/unit -o $@ $< $(BUILD)/libenergymeter.a \
	  -lcmocka $(LDFLAGS_ALL) $(LIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libenergymeter.a
	@mkdir -p $(dir $@)
	@[ "$(Q)" = "" ] || echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes -o $@ $< $(BUILD)/libenergymeter.a \
	  $(LDFLAGS_ALL) $(LIBS)

# `run`, `test` and `bench` install the packages first, then do their work in a second make: the
# build's configuration (is bpftool there? clang?) is read when make starts, so a make that
# installed them must not be the one that builds (on a fresh machine it would build without eBPF).
run: deps
	$(Q)$(MAKE) --no-print-directory run-now
test: deps
	$(Q)$(MAKE) --no-print-directory test-now
bench: deps
	$(Q)$(MAKE) --no-print-directory bench-now

# A few seconds of CPU work and file I/O, measured and reported.
run-now: all
	$(Q)ENERGYMETER_DEMO_DIR=$(BUILD) ./$(BUILD)/energymeter stat --label "make run demo" -- \
	  sh tools/demo-workload.sh $(BUILD)

# Many tests measure real time on fake sensors; a busy 2-CPU VM has stopped this process for up to
# 0.2 s. A test binary or pytest test that fails is run once more, and says so: one that fails
# twice fails the suite. (RERUN=0 turns that off.)
RERUN ?= 1
PYTEST_RERUN = $(if $(filter 0,$(RERUN)),,--reruns $(RERUN))
define run_once_more
$(1) || { [ "$(RERUN)" != 0 ] && echo "== $(2) failed; running it once more (timing on a busy machine)" && $(1); }
endef

unit: $(UNIT_BINS) $(TEST_DEPS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; \
	  $(call run_once_more,ENERGYMETER_BUILD=$(abspath $(BUILD)) ./$$t,$$t); done

pytest: all $(TEST_DEPS)
	ENERGYMETER_BUILD=$(abspath $(BUILD)) ENERGYMETER_BIN=$(abspath $(BUILD)/energymeter) ENERGYMETER_LIB=$(abspath $(BUILD)/libenergymeter.so) \
	  $(PYTHON) -m pytest -q $(PYTEST_RERUN) tests/cli

# The same unit and CLI tests under AddressSanitizer and UBSan, in build/asan.
check-asan:
	$(Q)$(MAKE) --no-print-directory BUILD=build/asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  SANFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all" unit pytest
	$(Q)LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
	  ASAN_OPTIONS=detect_leaks=0 $(MAKE) --no-print-directory BUILD=build/asan \
	  OPT="-O1 -g -fno-omit-frame-pointer" \
	  SANFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all" pytest-python

check-valgrind: $(UNIT_BINS) $(TEST_DEPS)
	@set -e; for t in $(UNIT_BINS); do echo "== valgrind $$t"; \
	  $(call run_once_more,ENERGYMETER_BUILD=$(abspath $(BUILD)) valgrind -q --error-exitcode=99 \
	  --leak-check=full --errors-for-leak-kinds=definite$(comma)indirect ./$$t >/dev/null,$$t); done
	$(Q)ENERGYMETER_SYSFS_ROOT=/nonexistent valgrind -q --error-exitcode=99 --leak-check=full \
	  --errors-for-leak-kinds=definite,indirect ./$(BUILD)/energymeter stat --json -o /dev/null -- true
	$(Q)ENERGYMETER_SYSFS_ROOT=/nonexistent valgrind -q --error-exitcode=99 --leak-check=full \
	  --errors-for-leak-kinds=definite,indirect ./$(BUILD)/energymeter serve --listen 127.0.0.1:0 \
	  --interval 100 --duration 0.5

# The layout's include rule (docs/ARCHITECTURE.md), and that the check catches each kind of break.
check-includes:
	$(Q)$(PYTHON) tests/check_includes.py --self-test
	$(Q)$(PYTHON) tests/check_includes.py

test-now: all format-check check-includes unit pytest pytest-python pytest-venv check-asan \
          check-valgrind
	@echo "make test: all test suites passed"

bench-now: all $(BENCH_BINS) $(BENCH_DEPS)
	$(Q)$(PYTHON) bench/run_bench.py --build $(BUILD)
	$(Q)echo; $(PYTHON) bench/bench_disk.py --build $(BUILD)
	$(Q)echo; $(PYTHON) bench/bench_serve.py --build $(BUILD)
	$(Q)echo; $(PYTHON) bench/bench_python.py --build $(BUILD)
	$(Q)echo; echo "GPU figures on the fake NVML (targets: em_end < 10 ms without settle, sampler < 0.5 %, every window within its uncertainty)"
	$(Q)sh bench/gpu_fake.sh $(BUILD)

install: all install-python
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/energymeter \
	  $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(BUILD)/energymeter $(DESTDIR)$(PREFIX)/bin/energymeter
	install -m 644 $(BUILD)/libenergymeter.a $(DESTDIR)$(PREFIX)/lib/libenergymeter.a
	install -m 755 $(BUILD)/libenergymeter.so $(DESTDIR)$(PREFIX)/lib/libenergymeter.so.$(SOVERSION)
	ln -sf libenergymeter.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/libenergymeter.so
	install -m 644 include/energymeter/energymeter.h $(DESTDIR)$(PREFIX)/include/energymeter/
	install -m 644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	[ -n "$(DESTDIR)" ] || ldconfig

uninstall: uninstall-python
	rm -f $(DESTDIR)$(PREFIX)/bin/energymeter $(DESTDIR)$(PREFIX)/lib/libenergymeter.* \
	  $(DESTDIR)$(PREFIX)/share/man/man1/energymeter*.1
	rm -rf $(DESTDIR)$(PREFIX)/include/energymeter

FORMAT_FILES = include/energymeter/*.h $(shell find src -name '*.[ch]') tools/*.c tools/*.h \
               tests/unit/*.c tests/unit/*.h tests/fake_nvml/*.c bench/*.c bench/bpf/*.c

format:
	clang-format -i $(FORMAT_FILES)

format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

clean:
	rm -rf build python/*.egg-info
