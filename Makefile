# liblunatic — front door.
#
#   make demo     install missing Debian packages, configure, build, run the examples
#   make test     same set-up, then every test suite (meson test)
#   make bench    same set-up, then the benchmarks
#   make deps     only install the missing Debian packages (DESIGN.md §6)
#   make build    configure (once) and compile
#   make format   clang-format the C/C++ sources in place (format-check: only report)
#   make clean    remove the build directory
#
# Variables: BUILD_DIR (build), JOBS (2), MESON_SETUP_ARGS, TEST_ARGS (passed to meson test),
# DEMOS / BENCHES (programs to run), SKIP_DEPS=1 (do not look at Debian packages).

BUILD_DIR ?= build
JOBS ?= 2
MESON_SETUP_ARGS ?=
TEST_ARGS ?=

# Programs `make demo` runs, in order; the ones not built are skipped, but at least one must run.
# A *.py entry runs with Debian's /usr/bin/python3 and the built Python module on PYTHONPATH.
DEMOS ?= $(BUILD_DIR)/examples/c/hello $(BUILD_DIR)/examples/c/hundred_thousand \
	$(BUILD_DIR)/examples/cpp/hello $(BUILD_DIR)/examples/cpp/ring \
	examples/python/hello.py
DEMO_PYTHONPATH ?= $(BUILD_DIR)/bindings/python
BENCHES ?= $(BUILD_DIR)/bench/bench_core $(BUILD_DIR)/bench/floor_boost_fiber \
	$(BUILD_DIR)/bench/bench_typed bench/bench_python.py
# make bench QUICK=1: a tenth of the sizes.
BENCH_ARGS := $(if $(filter 1,$(QUICK)),--quick,)

# Debian bookworm packages the build and the tests need (DESIGN.md §6).
DEB_PACKAGES := \
	libboost-dev libboost-fiber-dev libboost-context-dev \
	nlohmann-json3-dev libmsgpack-cxx-dev \
	pybind11-dev python3-dev \
	doctest-dev python3-pytest python3-msgpack \
	meson ninja-build pkg-config cmake \
	libssl-dev g++ valgrind

FORMAT_DIRS := core capi include bindings tests examples bench
FORMAT_FIND := find $(FORMAT_DIRS) -type f \( -name '*.c' -o -name '*.h' -o -name '*.cc' \
	-o -name '*.cpp' -o -name '*.hpp' \) 2>/dev/null | sort

SHELL := /bin/bash

.PHONY: all deps build test demo bench clean format format-check help

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

bench: build
	$(call run-list,bench,$(BENCHES),$(BENCH_ARGS))

clean:
	rm -rf "$(BUILD_DIR)"

format:
	@command -v clang-format >/dev/null || { echo "clang-format is not installed (apt-get install clang-format)" >&2; exit 1; }
	$(FORMAT_FIND) | xargs -r clang-format -i

format-check:
	@command -v clang-format >/dev/null || { echo "clang-format is not installed (apt-get install clang-format)" >&2; exit 1; }
	$(FORMAT_FIND) | xargs -r clang-format --dry-run -Werror
