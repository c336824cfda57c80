# The fake NVML libraries the GPU tests dlopen through ENERGYMETER_NVML_LIB
# (tests/fake_nvml/fake_nvml.c): the full one, one without any optional
# symbol, and one that lacks a required symbol. Built without sanitizers:
# they are loaded into instrumented and plain binaries alike.
FAKE_NVML_SRC  := tests/fake_nvml/fake_nvml.c
FAKE_NVML_LIBS := $(BUILD)/tests/libnvidia-ml-fake.so $(BUILD)/tests/libnvidia-ml-fake-min.so \
                  $(BUILD)/tests/libnvidia-ml-fake-broken.so
FAKE_NVML_CFLAGS := $(CSTD) $(WARN) -Wno-missing-prototypes -O2 -g -fPIC -shared -fvisibility=hidden

TEST_DEPS  += $(FAKE_NVML_LIBS)
BENCH_DEPS += $(BUILD)/tests/libnvidia-ml-fake.so

$(BUILD)/tests/libnvidia-ml-fake.so: $(FAKE_NVML_SRC) mk/nvml.mk
	@mkdir -p $(dir $@)
	@[ "$(Q)" = "" ] || echo "  CC      $@"
	$(Q)$(CC) $(FAKE_NVML_CFLAGS) -o $@ $< -lm

$(BUILD)/tests/libnvidia-ml-fake-min.so: $(FAKE_NVML_SRC) mk/nvml.mk
	@mkdir -p $(dir $@)
	@[ "$(Q)" = "" ] || echo "  CC      $@"
	$(Q)$(CC) $(FAKE_NVML_CFLAGS) -DFAKE_MINIMAL -o $@ $< -lm

$(BUILD)/tests/libnvidia-ml-fake-broken.so: $(FAKE_NVML_SRC) mk/nvml.mk
	@mkdir -p $(dir $@)
	@[ "$(Q)" = "" ] || echo "  CC      $@"
	$(Q)$(CC) $(FAKE_NVML_CFLAGS) -DFAKE_MINIMAL -DFAKE_BROKEN -o $@ $< -lm

# What the GPU accuracy benchmark needs on a GPU machine that has the NVIDIA
# driver but not this project's build dependencies (the device machine: no
# apt, no libbpf, no cJSON, no libmicrohttpd): a build without eBPF or the
# exporter (NO_SERVE=1), with libcjson.so.1 copied
# beside the library, bench_gpu, the CLI, and gpu_accuracy itself when nvcc
# is here (its CUDA runtime is linked statically, so only the driver is
# needed there). Carry the folder, then: sh bench/gpu_accuracy/run.sh build/gpu
GPU_BUNDLE ?= build/gpu
GPU_NVCC   ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)

.PHONY: gpu-bundle
gpu-bundle:
	$(MAKE) BUILD=$(GPU_BUNDLE) NO_BPF=1 NO_SERVE=1 $(GPU_BUNDLE)/libenergymeter.so \
	  $(GPU_BUNDLE)/bench/bench_gpu $(GPU_BUNDLE)/energymeter
	cp -L "$$($(CC) -print-file-name=libcjson.so.1)" $(GPU_BUNDLE)/
	@if [ -n "$(GPU_NVCC)" ]; then \
	  echo "  NVCC    $(GPU_BUNDLE)/gpu_accuracy"; \
	  $(GPU_NVCC) -O2 -o $(GPU_BUNDLE)/gpu_accuracy bench/gpu_accuracy/gpu_accuracy.cu -Iinclude \
	    -L$(GPU_BUNDLE) -lenergymeter -Xlinker -rpath -Xlinker '$$ORIGIN' -ldl -lpthread; \
	else echo "gpu-bundle: no nvcc here: run.sh will build gpu_accuracy on the GPU machine"; fi
