# eBPF block I/O source (src/sources/disk/bpf/blkio.bpf.c -> $(BUILD)/gen/blkio.skel.h, loaded by src/sources/disk/ebpf.c).
#
# vmlinux.h is generated at build time from the running kernel's BTF, the BPF object is compiled
# with clang for the bpf target (CO-RE: it relocates itself to the running kernel when loaded),
# and bpftool embeds it in a skeleton header. When BTF, bpftool, clang or libbpf's headers are
# missing, the library is built without eBPF: the storage component then uses its fallbacks
# (/proc/diskstats, /proc/self/io) and says why (EM_BPF_MISSING).

DEB_PACKAGES += clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev fio bpftrace

BPF_BTF     ?= /sys/kernel/btf/vmlinux
# Debian installs bpftool in /usr/sbin, which is not on a normal user's PATH.
BPFTOOL     ?= $(firstword $(shell command -v bpftool 2>/dev/null) $(wildcard /usr/sbin/bpftool))
BPF_CLANG   ?= $(shell command -v clang 2>/dev/null)
BPF_ARCH    := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/' -e 's/ppc64le/powerpc/' \
                 -e 's/s390x/s390/' -e 's/riscv64/riscv/' -e 's/loongarch64/loongarch/')

BPF_MISSING :=
ifeq ($(wildcard $(BPF_BTF)),)
BPF_MISSING := no kernel BTF at $(BPF_BTF) at build time
else ifeq ($(BPFTOOL),)
BPF_MISSING := bpftool was not installed at build time
else ifeq ($(BPF_CLANG),)
BPF_MISSING := clang was not installed at build time
else ifeq ($(wildcard /usr/include/bpf/libbpf.h),)
BPF_MISSING := libbpf headers (libbpf-dev) were not installed at build time
else ifneq ($(NO_BPF),)
BPF_MISSING := built with NO_BPF=$(NO_BPF)
endif

# Only src/sources/disk/ebpf.c needs to know: a target-specific variable, so that a change of the eBPF
# build rebuilds no other object.
ifeq ($(BPF_MISSING),)
$(BUILD)/obj/src/sources/disk/ebpf.o: CFLAGS_ALL += -DEM_HAVE_BPF=1
# The test of libbpf's print hook calls libbpf itself.
$(BUILD)/tests/test_blkio_hook: CFLAGS_ALL += -DEM_TEST_HAVE_BPF=1
GEN_HEADERS  += $(BUILD)/gen/blkio.skel.h
LIBS         += -lbpf -lelf -lz
else
# Not from the make of `make test`, `run` or `bench` that installs the packages: the second make
# that builds reads the configuration again (Makefile).
ifneq ($(filter-out run test bench deps,$(or $(MAKECMDGOALS),all)),)
$(info energymeter: building without eBPF: $(BPF_MISSING))
endif
$(BUILD)/obj/src/sources/disk/ebpf.o: CFLAGS_ALL += '-DEM_BPF_MISSING="$(BPF_MISSING)"'
endif

# The configuration ebpf.o was built with, rewritten only when it changes, so that installing
# bpftool or clang later (or NO_BPF=1) rebuilds it instead of keeping the old build.
BPF_CONFIG := $(if $(BPF_MISSING),without eBPF: $(BPF_MISSING),with eBPF)
BPF_STAMP  := $(BUILD)/gen/bpf-config
ifneq ($(file <$(BPF_STAMP)),$(BPF_CONFIG))
$(shell mkdir -p $(BUILD)/gen && printf '%s\n' '$(BPF_CONFIG)' > $(BPF_STAMP))
endif
$(BUILD)/obj/src/sources/disk/ebpf.o $(BUILD)/tests/test_blkio_hook: $(BPF_STAMP)

$(BUILD)/gen/vmlinux.h:
	@mkdir -p $(dir $@)
	@[ "$(Q)" = "" ] || echo "  GEN     $@"
	$(Q)$(BPFTOOL) btf dump file $(BPF_BTF) format c > $@.tmp && mv $@.tmp $@

# One recipe for every eBPF object: the source's and the benchmark's (bench/bpf/).
define bpf-compile
	@[ "$(Q)" = "" ] || echo "  BPF     $<"
	$(Q)$(BPF_CLANG) -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(BPF_ARCH) -I$(BUILD)/gen -Isrc \
	  -Wall -Werror -c $< -o $@
	@# DWARF is not needed at run time (BTF stays): a 10x smaller skeleton.
	$(Q)if command -v llvm-strip >/dev/null; then llvm-strip -g $@; fi
endef

# Static pattern rules (explicit, so that make never deletes these as intermediates).
$(BUILD)/gen/blkio.bpf.o: $(BUILD)/gen/%.bpf.o: src/sources/disk/bpf/%.bpf.c src/sources/disk/blkio.h \
  $(BUILD)/gen/vmlinux.h
	$(bpf-compile)

$(BUILD)/gen/floor.bpf.o: $(BUILD)/gen/%.bpf.o: bench/bpf/%.bpf.c $(BUILD)/gen/vmlinux.h
	$(bpf-compile)

$(BUILD)/gen/blkio.skel.h $(BUILD)/gen/floor.skel.h: $(BUILD)/gen/%.skel.h: $(BUILD)/gen/%.bpf.o
	@[ "$(Q)" = "" ] || echo "  SKEL    $@"
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf > $@.tmp && mv $@.tmp $@

# The storage benchmark's floor: the same tracepoints with programs that do nothing
# (bench/bpf/bpf_floor.c). The fio and bpftrace that bench_disk.py drives are Debian packages.
ifeq ($(BPF_MISSING),)
BENCH_DEPS += $(BUILD)/bench/bpf_floor
endif

$(BUILD)/bench/bpf_floor: bench/bpf/bpf_floor.c $(BUILD)/gen/floor.skel.h
	@mkdir -p $(dir $@)
	@[ "$(Q)" = "" ] || echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS_ALL) -o $@ $< $(LDFLAGS_ALL) -lbpf -lelf -lz
