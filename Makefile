# liblunatic — front door.
#
#   make demo     install missing Debian packages, configure, build, run the examples
#   make test     same set-up, then every test suite (meson test)
#   make bench    same set-up, then liblunatic against its peers (bench/run.py): a Markdown
#                 table, bench/results/latest.{md,json,png}; QUICK=1: a tenth of the sizes
#   make bench-micro  the older per-layer benchmarks (bench_core, the Boost.Fiber floor, typed, Python)
#   make test-asan  the core, C, C++ and stress suites built with AddressSanitizer + UBSan
#                 (build-asan/; ASAN_BUILD_DIR); see README "Reliability"
#   make test-asan-quick  the same for the core, C ABI and stress suites only (what CI runs)
#   make fuzz     each libFuzzer target for FUZZ_SECONDS (300) from its seed corpus
#   make deps     only install the missing Debian packages (DESIGN.md §6)
#   make build    configure (once) and compile
#   make format   clang-format the C/C++ sources in place (format-check: only report)
#   make clean    remove the build directory
#
# Variables: BUILD_DIR (build), JOBS (2), MESON_SETUP_ARGS, TEST_ARGS (passed to meson test),
# DEMOS / BENCHES (programs to run), SKIP_DEPS=1 (do not look at Debian packages),
# QUICK=1 and BENCH_RUN_ARGS (more bench/run.py options, e.g. "--only skynet --idle-spins 1,2048").

BUILD_DIR ?= build
JOBS ?= 2
MESON_SETUP_ARGS ?=
TEST_ARGS ?=

# Programs `make demo` runs, in order; the ones not built are skipped, but at least one must run.
# A *.py entry runs with Debian's /usr/bin/python3 and the built Python module on PYTHONPATH.
DEMOS ?= $(BUILD_DIR)/examples/c/hello $(BUILD_DIR)/examples/c/hundred_thousand \
	$(BUILD_DIR)/examples/cpp/hello $(BUILD_DIR)/examples/cpp/ring \
	examples/python/hello.py examples/python/nodes.py
DEMO_PYTHONPATH ?= $(BUILD_DIR)/bindings/python
BENCHES ?= $(BUILD_DIR)/bench/bench_core $(BUILD_DIR)/bench/floor_boost_fiber \
	$(BUILD_DIR)/bench/bench_typed bench/bench_python.py
# make bench QUICK=1: a tenth of the sizes.
BENCH_ARGS := $(if $(filter 1,$(QUICK)),--quick,)
BENCH_RUN_ARGS ?=
# The peers of `make bench` (bench/peers/): Go, Erlang/OTP, CAF, and matplotlib for the chart.
BENCH_DEB_PACKAGES := golang-go erlang-nox libcaf-dev python3-matplotlib

# Debian bookworm packages the build and the tests need (DESIGN.md §6).
DEB_PACKAGES := \
	libboost-dev libboost-fiber-dev libboost-context-dev \
	nlohmann-json3-dev libmsgpack-cxx-dev \
	pybind11-dev python3-dev \
	doctest-dev python3-pytest python3-msgpack \
	meson ninja-build pkg-config cmake \
	libssl-dev g++ valgrind \
	clang libclang-rt-14-dev

FORMAT_DIRS := core capi include bindings tests examples bench
FORMAT_FIND := find $(FORMAT_DIRS) -type f \( -name '*.c' -o -name '*.h' -o -name '*.cc' \
	-o -name '*.cpp' -o -name '*.hpp' \) 2>/dev/null | sort

SHELL := /bin/bash

.PHONY: test-asan test-asan-quick fuzz
.PHONY: all deps build test demo bench bench-deps bench-micro clean format format-check help

all: build

help:
	@awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' Makefile

deps:
ifeq ($(SKIP_DEPS),1)
	@echo "SKIP_DEPS=1: not checking Debian packages"
else
	@missing=""; \
	for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' "$$p" 2>/dev/null | grep -q '^install ok installed$$' \
			|| missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then \
		echo "deps: all $(words $(DEB_PACKAGES)) Debian packages are installed"; \
	else \
		echo "deps: installing$$missing"; \
		sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
		$$sudo apt-get update \
		&& $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi
endif

# Configure once; afterwards ninja re-runs meson by itself when a meson.build changes.
$(BUILD_DIR)/build.ninja:
	@if [ -f "$(BUILD_DIR)/meson-private/coredata.dat" ]; then \
		meson setup --reconfigure "$(BUILD_DIR)" $(MESON_SETUP_ARGS); \
	else \
		meson setup "$(BUILD_DIR)" $(MESON_SETUP_ARGS); \
	fi

build: deps
	@$(MAKE) --no-print-directory $(BUILD_DIR)/build.ninja
	meson compile -C "$(BUILD_DIR)" -j $(JOBS)

test: build
	meson test -C "$(BUILD_DIR)" --print-errorlogs $(TEST_ARGS)

# run-list LABEL PROGRAMS [ARGS]: runs each program that exists (with ARGS), fails if one fails
# or none exists.
define run-list
	@ran=0; \
	for prog in $(2); do \
		if [ ! -e "$$prog" ]; then echo "($(1): $$prog not built, skipped)"; continue; fi; \
		echo; echo "==> $$prog"; \
		case "$$prog" in \
			*.py) PYTHONPATH="$(DEMO_PYTHONPATH)$${PYTHONPATH:+:$$PYTHONPATH}" /usr/bin/python3 "$$prog" $(3) ;; \
			*) "$$prog" $(3) ;; \
		esac || { echo "$(1): $$prog failed" >&2; exit 1; }; \
		ran=$$((ran + 1)); \
	done; \
	if [ $$ran -eq 0 ]; then echo "$(1): none of [$(strip $(2))] exists" >&2; exit 1; fi; \
	echo; echo "$(1): $$ran program(s) ran"
endef

demo: build
	$(call run-list,demo,$(DEMOS))

# The peers' Debian packages, installed like `deps` does; a peer that still cannot be built
# shows as "n/a (why)" in the table instead of stopping the run.
bench-deps:
ifeq ($(SKIP_DEPS),1)
	@echo "SKIP_DEPS=1: not checking the peers' Debian packages"
else
	@missing=""; \
	for p in $(BENCH_DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' "$$p" 2>/dev/null | grep -q '^install ok installed$$' \
			|| missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then \
		echo "bench-deps: all $(words $(BENCH_DEB_PACKAGES)) Debian packages of the peers are installed"; \
	else \
		echo "bench-deps: installing$$missing"; \
		sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
		{ $$sudo apt-get update \
		&& $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; } \
		|| echo "bench-deps: could not install$$missing; those peers will show as n/a" >&2; \
	fi
endif

bench: build bench-deps
	/usr/bin/python3 bench/run.py --build-dir "$(BUILD_DIR)" --jobs $(JOBS) $(BENCH_ARGS) $(BENCH_RUN_ARGS)

bench-micro: build
	$(call run-list,bench,$(BENCHES),$(BENCH_ARGS))

# ---- Reliability (issue 10). Sanitized build: ASan + UBSan (any UB aborts), leak check at exit.
# Python is not run under ASan (the interpreter would need libasan preloaded and reports its
# own leaks); bench/ and bindings/ are not built there. detect_stack_use_after_return=0: fake
# stacks stay off (the runtime annotates its fiber switches, but Boost.Context's own are not).
ASAN_BUILD_DIR ?= build-asan
ASAN_SUITES ?= core capi cpp stress examples
ASAN_ENV := ASAN_OPTIONS=detect_stack_use_after_return=0:detect_leaks=1:halt_on_error=1:abort_on_error=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
test-asan: deps
	@if [ ! -f "$(ASAN_BUILD_DIR)/build.ninja" ]; then \
		meson setup "$(ASAN_BUILD_DIR)" -Db_sanitize=address,undefined $(MESON_SETUP_ARGS); fi
	meson compile -C "$(ASAN_BUILD_DIR)" -j $(JOBS)
	$(ASAN_ENV) meson test -C "$(ASAN_BUILD_DIR)" --print-errorlogs \
		$(foreach s,$(ASAN_SUITES),--suite $(s)) $(TEST_ARGS)

# The part CI runs (.ci/run): the core, C ABI and stress suites only; the typed C++ suite is
# most of the sanitized build's compile time (its serializer tests alone take minutes).
# Only the programs of those suites are built (found with `meson introspect --tests`).
ASAN_QUICK_SUITES := core capi stress
test-asan-quick: deps
	@if [ ! -f "$(ASAN_BUILD_DIR)/build.ninja" ]; then \
		meson setup "$(ASAN_BUILD_DIR)" -Db_sanitize=address,undefined $(MESON_SETUP_ARGS); fi
	ninja -C "$(ASAN_BUILD_DIR)" build.ninja
	targets=$$(meson introspect "$(ASAN_BUILD_DIR)" --tests | /usr/bin/python3 -c \
		'import json, os, sys; d = os.path.realpath(sys.argv[1]); suites = set(sys.argv[2:]); \
		print(" ".join(sorted({os.path.relpath(a, d) for t in json.load(sys.stdin) \
		if suites & {s.split(":")[-1] for s in t["suite"]} \
		for a in t["cmd"] if os.path.realpath(a).startswith(d + os.sep)})))' \
		"$(ASAN_BUILD_DIR)" $(ASAN_QUICK_SUITES)) && \
	echo "test-asan-quick: building $$targets" && ninja -C "$(ASAN_BUILD_DIR)" -j $(JOBS) $$targets
	$(ASAN_ENV) meson test -C "$(ASAN_BUILD_DIR)" --no-rebuild --print-errorlogs \
		$(foreach s,$(ASAN_QUICK_SUITES),--suite $(s)) $(TEST_ARGS)

# Longer fuzzing than `make test`'s 10 s per target (needs clang; see tests/fuzz/meson.build).
FUZZ_SECONDS ?= 300
fuzz: build
	LUNATIC_FUZZ_SECONDS=$(FUZZ_SECONDS) meson test -C "$(BUILD_DIR)" --print-errorlogs \
		--suite fuzz --timeout-multiplier 0 $(TEST_ARGS)

clean:
	rm -rf "$(BUILD_DIR)"

format:
	@command -v clang-format >/dev/null || { echo "clang-format is not installed (apt-get install clang-format)" >&2; exit 1; }
	$(FORMAT_FIND) | xargs -r clang-format -i

format-check:
	@command -v clang-format >/dev/null || { echo "clang-format is not installed (apt-get install clang-format)" >&2; exit 1; }
	$(FORMAT_FIND) | xargs -r clang-format --dry-run -Werror
