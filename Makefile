# nsfast build. `make` builds everything into build/; `make test` and
# `make demo` first install any missing Debian package (scripts/deps.sh).
# Layout follows libbpf-bootstrap: BPF objects -> bpftool skeletons -> loader.

BUILD     ?= build
CLANG     ?= clang
BPFTOOL   ?= bpftool
CC        ?= cc
PREFIX    ?= /usr/local
ARCH      := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)

WARN      := -Wall -Wextra -Werror
CFLAGS    ?= -O2 -g
CFLAGS    += $(WARN) -std=gnu11 -D_GNU_SOURCE -Iinclude -I$(BUILD)/skel -Iloader
LDLIBS    := -lbpf -lxdp -lmnl -lcjson -lelf -lz
BPF_CFLAGS := -O2 -g $(WARN) -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) \
	      -Iinclude -I/usr/include/$(MULTIARCH)

# SANITIZE=1: loader and tests under AddressSanitizer + UBSan.
ifeq ($(SANITIZE),1)
CFLAGS    += -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	     -fno-omit-frame-pointer
LDFLAGS   += -fsanitize=address,undefined
BUILD     := build-san
endif

BPF_SRCS   := $(wildcard bpf/*.bpf.c)
BPF_OBJS   := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS      := $(patsubst bpf/%.bpf.c,$(BUILD)/skel/%.skel.h,$(BPF_SRCS))
BPF_HDRS   := $(wildcard bpf/lib/*.h include/nsfast/*.h)

LOADER_SRCS := $(wildcard loader/*.c)
LOADER_OBJS := $(patsubst loader/%.c,$(BUILD)/loader/%.o,$(LOADER_SRCS))
LIB_OBJS    := $(filter-out $(BUILD)/loader/main.o,$(LOADER_OBJS))
LOADER_HDRS := $(wildcard loader/*.h include/nsfast/*.h)

UNIT_SRCS  := $(wildcard tests/unit/*.c)
UNIT_BINS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
BPFT_SRCS  := $(wildcard tests/bpf/*.c)
BPFT_BINS  := $(patsubst tests/bpf/%.c,$(BUILD)/tests/%,$(BPFT_SRCS))
TEST_HDRS  := $(wildcard tests/bpf/*.h tests/unit/*.h)

NSFAST := $(BUILD)/nsfast

# Keep BPF objects: bpftool reads them and tests may want them.
.SECONDARY:

.PHONY: all deps test unit demo bench install uninstall clean format \
	check-format lint

all: deps $(NSFAST)

# Every compile waits for deps (order-only), so `make -j` on a fresh machine
# does not compile against headers whose packages are still installing.

deps:
	@bash scripts/deps.sh

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS) | deps
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/skel/%.skel.h: $(BUILD)/bpf/%.bpf.o
	@mkdir -p $(@D)
	$(BPFTOOL) gen skeleton $< name $(subst .,_,$*) > $@.tmp && mv $@.tmp $@

$(BUILD)/loader/%.o: loader/%.c $(LOADER_HDRS) | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

# Only the object loader includes the skeletons.
$(BUILD)/loader/maps.o: $(SKELS)

$(NSFAST): $(LOADER_OBJS)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJS) $(TEST_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(LIB_OBJS) $(LDLIBS) -lcmocka -o $@

$(BUILD)/tests/%: tests/bpf/%.c $(LIB_OBJS) $(SKELS) $(TEST_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(LIB_OBJS) $(LDLIBS) -lcmocka -o $@

# Unit and BPF tests only (no namespaces): quick, for development.
unit: all $(UNIT_BINS) $(BPFT_BINS)
	@bash tests/run.sh --build $(BUILD) --only-unit

test: all $(UNIT_BINS) $(BPFT_BINS)
	@bash tests/run.sh --build $(BUILD)

demo: all
	@bash scripts/demo.sh $(NSFAST)

bench: all
	@bash bench/run.sh $(NSFAST)

# The least any tc forwarder can cost, beside the ceiling, the bridge and
# nsfast (bench/floor.sh, docs/benchmarks.md "The floor"); ~3 minutes.
.PHONY: bench-floor
bench-floor: all
	@bash bench/floor.sh $(NSFAST)

install: all
	install -D -m 0755 $(NSFAST) $(DESTDIR)$(PREFIX)/bin/nsfast

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/nsfast

format:
	clang-format -i $(LOADER_SRCS) loader/*.h include/nsfast/*.h \
		$(BPF_SRCS) bpf/lib/*.h $(UNIT_SRCS) $(BPFT_SRCS) $(FUZZ_SRCS)

check-format:
	clang-format --dry-run --Werror $(LOADER_SRCS) loader/*.h \
		include/nsfast/*.h $(BPF_SRCS) bpf/lib/*.h $(UNIT_SRCS) $(BPFT_SRCS) \
		$(FUZZ_SRCS) bench/floor.bpf.c

lint: $(SKELS)
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
		--inline-suppr --suppress=missingIncludeSystem --suppress='*:/usr/include/*' \
		-I/usr/include -I/usr/include/$(MULTIARCH) -D__x86_64__ \
		-Iinclude -Iloader -I$(BUILD)/skel loader
	clang-tidy --quiet $(filter-out loader/maps.c,$(LOADER_SRCS)) -- $(CFLAGS)
	# maps.c includes bpftool's generated skeletons, whose error paths the
	# analyzer misreads as leaks; that one check is off for this file only.
	clang-tidy --quiet --checks=-clang-analyzer-unix.Malloc loader/maps.c \
		-- $(CFLAGS)

clean:
	rm -rf build build-san

# ---- CNI plugin ----
# The nsfast binary is the CNI plugin too (it answers CNI_COMMAND); the
# nsfast-cni link is the same binary under a name of its own. Runtimes find
# plugins in /opt/cni/bin (Debian's packages: /usr/lib/cni).
CNI_BIN_DIR ?= /opt/cni/bin

.PHONY: install-cni uninstall-cni

all: $(BUILD)/nsfast-cni

$(BUILD)/nsfast-cni: $(NSFAST)
	ln -sf nsfast $@

install-cni: all
	install -D -m 0755 $(NSFAST) $(DESTDIR)$(CNI_BIN_DIR)/nsfast
	ln -sf nsfast $(DESTDIR)$(CNI_BIN_DIR)/nsfast-cni

uninstall-cni:
	rm -f $(DESTDIR)$(CNI_BIN_DIR)/nsfast $(DESTDIR)$(CNI_BIN_DIR)/nsfast-cni
# ---- isolation: per-packet program cost (bench/prog_cost.c) ----
# `make prog-cost`: BPF_PROG_TEST_RUN timing of nsf_from_pod per 64 B
# packet: pod to pod (A/B/A/B against a build with the monitor hooks
# compiled out: what idle monitoring costs), pod to world in an
# established flow, and pod to world with every packet a new flow (NAT
# table of 524,288 entries, the default). `build/prog_cost OTHER.bpf.o`
# times any object.
.PHONY: prog-cost
$(BUILD)/prog_cost: bench/prog_cost.c $(BUILD)/bpf/pod_ingress.bpf.o
	$(CC) $(CFLAGS) $< -lbpf -o $@

$(BUILD)/bpf/pod_ingress_nomon.bpf.o: bpf/pod_ingress.bpf.c $(BPF_HDRS)
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -DNSF_NO_MONITOR -c $< -o $@

PROG_COST = $(BUILD)/prog_cost $(BUILD)/bpf/pod_ingress
prog-cost: $(BUILD)/prog_cost $(BUILD)/bpf/pod_ingress_nomon.bpf.o
	@printf '%-26s %-26s %-14s %s\n' 'ns/packet: pod->pod' \
		'pod->pod (no monitor)' 'pod->world' 'new flow'
	@for i in 1 2 3 4 5; do \
		printf '%-26s %-26s %-14s %s\n' \
		"$$($(PROG_COST).bpf.o 100000 | cut -d' ' -f2)" \
		"$$($(PROG_COST)_nomon.bpf.o 100000 | cut -d' ' -f2)" \
		"$$($(PROG_COST).bpf.o 100000 world | cut -d' ' -f2)" \
		"$$($(PROG_COST).bpf.o 100000 newflow 524288 | cut -d' ' -f2)"; \
	done

# ---- hardening: fuzzing, sanitizers, valgrind, stress ----
# tests/fuzz/fuzz_datapath.c is built twice: as a TAP suite of `make test`
# (corpus replay + seeded mutation, FUZZ_SECONDS per program) and, with
# clang's libFuzzer (libclang-rt-14-dev), as the target of `make fuzz`
# (FUZZ_TIME seconds per program, new inputs kept in $(BUILD)/fuzz).
FUZZ_TIME   ?= 60
FUZZ_SRCS   := tests/fuzz/fuzz_datapath.c tests/fuzz/seeds.c
FUZZ_TAP    := $(BUILD)/tests/fuzz_datapath
FUZZ_LF     := $(BUILD)/fuzz/fuzz_datapath
FUZZ_TARGETS := from_pod uplink_xdp uplink_tc
STRESS_TIME ?= 180
STRESS_PODS ?= 120

.PHONY: fuzz fuzz-corpus stress valgrind

$(FUZZ_TAP): $(FUZZ_SRCS) $(SKELS) $(TEST_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $(FUZZ_SRCS) -lbpf -lelf -lz -o $@

$(FUZZ_LF): tests/fuzz/fuzz_datapath.c $(SKELS) $(TEST_HDRS)
	@mkdir -p $(@D)
	$(CLANG) -O1 -g -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -DNSF_LIBFUZZER $(WARN) \
		-std=gnu11 -D_GNU_SOURCE -Iinclude -I$(BUILD)/skel $< \
		-lbpf -lelf -lz -o $@

test unit: $(FUZZ_TAP)

# Regenerate the seed corpus (after a change to the map state it assumes).
fuzz-corpus: $(FUZZ_TAP)
	rm -rf tests/fuzz/corpus && $(FUZZ_TAP) --write-corpus tests/fuzz/corpus

fuzz: all $(FUZZ_LF)
	@set -e; for t in $(FUZZ_TARGETS); do \
		d=$(BUILD)/fuzz/corpus-$$t; mkdir -p $$d $(BUILD)/fuzz/crashes; \
		cp -n tests/fuzz/corpus/* $$d/; \
		echo "== fuzz $$t ($(FUZZ_TIME)s)"; \
		NSF_FUZZ_TARGET=$$t $(FUZZ_LF) -max_total_time=$(FUZZ_TIME) \
			-max_len=1515 -print_final_stats=1 \
			-artifact_prefix=$(BUILD)/fuzz/crashes/$$t- $$d; \
	done

# The CLI under valgrind (also a suite of `make test`: quality_valgrind).
valgrind: all
	@bash tests/run.sh --build $(BUILD) --filter quality_valgrind

# Sustained load (tests/stress/stress.sh): STRESS_TIME s, STRESS_PODS pods.
stress: all
	NSFAST=$(abspath $(NSFAST)) STRESS_TIME=$(STRESS_TIME) \
		STRESS_PODS=$(STRESS_PODS) STRESS_OUT=$(abspath $(BUILD))/stress \
		bash tests/stress/stress.sh

# ---- attach time ----
# The nsfast binary links libbpf, libelf and zlib statically: every
# command is a short-lived process, and resolving those libraries'
# relocations at each start cost ~0.2 ms of each `nsfast attach`
# (bench/attach_time.sh). libmnl and libcJSON ship no static archive.
$(NSFAST): LDLIBS := -Wl,-Bstatic -lbpf -lelf -lz -Wl,-Bdynamic -lmnl -lcjson
