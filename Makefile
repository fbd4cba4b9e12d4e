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

# Debug build with AddressSanitizer + UBSan, then the whole suite.
sanitize: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTAHOMA_SANITIZE=ON -DTAHOMA_BUILD_BENCH=OFF -DTAHOMA_MPI=OFF
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j $(JOBS)

# libFuzzer targets for the YAML, config.json and CSV loaders (clang, ASan + UBSan), a fixed number
# of inputs from a fixed seed each (FUZZ_RUNS), so the run is bounded and repeatable.
FUZZ_RUNS ?= 20000
fuzz: deps
	CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTAHOMA_FUZZ=ON \
	  -DTAHOMA_BUILD_TESTS=OFF -DTAHOMA_BUILD_BENCH=OFF -DTAHOMA_MPI=OFF
	cmake --build build-fuzz -j $(JOBS)
	./tests/fuzz/run_fuzz.sh build-fuzz/bin $(FUZZ_RUNS)

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h')

clean:
	rm -rf $(BUILD) build-asan build-fuzz
