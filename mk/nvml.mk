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
