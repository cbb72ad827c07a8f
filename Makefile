# depot: the two commands a newcomer needs are `make run` and `make test`.
#
#   make run     install what is missing, build, start a manager on $(ADDRESS) with a fresh
#                authkey that it prints (or AUTHKEY=... to choose one)
#   make test    install, build, run every test twice: plain and under ASan + UBSan
#   make bench   the benchmarks of bench/ against Redis and the Python managers
#   make format  clang-format every C++ file in place

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
ADDRESS    ?= 127.0.0.1:5000
AUTHKEY    ?=

# Exactly what the build and the tests need, from Debian.
PACKAGES       = cmake make g++ libboost-dev libboost-serialization-dev libssl-dev catch2 libpoco-dev
BENCH_PACKAGES = redis-server redis-tools python3 python3-distributed python3-streamz
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
SOURCES = $(shell git ls-files '*.cpp' '*.h' 2>/dev/null)

.PHONY: deps bench-deps build build-asan run test test-plain test-asan bench format format-check clean

# Installs only the packages that are missing; does nothing when all are there.
define install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi
endef

deps:
	$(call install,$(PACKAGES))

bench-deps: deps
	$(call install,$(BENCH_PACKAGES))

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j$(JOBS)

build-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DDEPOT_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j$(JOBS)

run: build
	@if [ -n "$(AUTHKEY)" ]; then \
	  echo "authkey: $(AUTHKEY)"; \
	  exec $(BUILD)/bin/depot-manager --address $(ADDRESS) --authkey "$(AUTHKEY)"; \
	else \
	  exec $(BUILD)/bin/depot-manager --address $(ADDRESS) --generate-authkey; \
	fi

test-plain: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

test-asan: build-asan
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j$(JOBS)

# The sanitizer run comes first so that the last line printed counts the plain run's tests.
test: test-asan test-plain

bench: bench-deps
	cmake -S . -B $(BUILD)-release -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD)-release -j$(JOBS)
	BUILD=$(CURDIR)/$(BUILD)-release bash bench/run_all.sh

format:
	clang-format -i $(SOURCES)

format-check:
	clang-format --dry-run --Werror $(SOURCES)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(BUILD)-release
