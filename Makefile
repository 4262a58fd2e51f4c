# Thin wrapper over scripts/ and CMake. `make lab` runs the lab, `make test` every test.
JOBS ?= $(shell nproc)
BUILD_DIR ?= build
TEST_DIR ?= build-asan

.PHONY: all build test lab clean format format-check bench fuzz

all: build

build:
	scripts/install-deps build
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release -DIMS_SANITIZE=OFF >/dev/null
	cmake --build $(BUILD_DIR) -j $(JOBS)

test:
	scripts/install-deps test
	cmake -S . -B $(TEST_DIR) -DCMAKE_BUILD_TYPE=Debug -DIMS_SANITIZE=ON -DIMS_TESTS=ON >/dev/null
	cmake --build $(TEST_DIR) -j $(JOBS)
	ctest --test-dir $(TEST_DIR) --output-on-failure -j $(JOBS) --timeout 600

lab: build
	scripts/install-deps lab
	scripts/lab $(LAB_ARGS)

format:
	scripts/format

format-check:
	scripts/format --check

bench: build
	scripts/install-deps bench
	bench/run-peer $(BENCH_ARGS)

fuzz:
	scripts/fuzz $(or $(FUZZ_SECONDS),60)

clean:
	rm -rf $(BUILD_DIR) $(TEST_DIR)
