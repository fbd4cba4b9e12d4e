# Two commands set Tahoma up on a fresh Debian 12 machine: `make demo` and `make test`.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release

.PHONY: all deps configure build demo test bench sanitize fuzz format clean

all: build

deps:
	./scripts/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

configure: $(BUILD)/CMakeCache.txt

build: deps configure
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	$(BUILD)/bin/tahoma demo

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	@for b in $(BUILD)/bin/bench_*; do echo "== $$b"; $$b; done

# One clang tree, build-asan, serves the sanitizer suite and the fuzzers: AddressSanitizer + UBSan at
# -O1 (asserts on; several times faster to test than -O0) with libFuzzer coverage, so CI compiles the
# library once for both. `make sanitize` runs the whole suite there (bad-input corpus included).
SANITIZE_FLAGS = -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" -DTAHOMA_SANITIZE=ON -DTAHOMA_FUZZ=ON \
  -DTAHOMA_BUILD_BENCH=OFF -DTAHOMA_MPI=OFF -DTAHOMA_PYTHON=OFF
build-asan/CMakeCache.txt: | deps
	CC=clang CXX=clang++ cmake -S . -B build-asan $(SANITIZE_FLAGS)

sanitize: build-asan/CMakeCache.txt
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j $(JOBS)

# The libFuzzer targets for the YAML, config.json and CSV loaders (in build-asan), a fixed number of
# inputs from a fixed seed each (FUZZ_RUNS), so the run is bounded and repeatable.
FUZZ_RUNS ?= 20000
fuzz: build-asan/CMakeCache.txt
	cmake --build build-asan -j $(JOBS) --target fuzz_yaml fuzz_config_json fuzz_csv
	./tests/fuzz/run_fuzz.sh build-asan/bin $(FUZZ_RUNS)

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h')

clean:
	rm -rf $(BUILD) build-asan
