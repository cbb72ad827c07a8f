# depot: the two commands a newcomer needs are `make run` and `make test`.
#
#   make run     install what is missing, build, start a manager on $(ADDRESS) keeping its
#                state in $(DATA_DIR), with an authkey that it prints (or AUTHKEY=...);
#                TLS=1 serves TLS with throwaway certificates made in $(DATA_DIR)/certs
#   make test    install, build, run every test twice: plain and under ASan + UBSan
#   make fuzz    the libFuzzer targets of tests/fuzz/ (clang, ASan + UBSan), $(FUZZ_SECONDS) s each
#   make bench   the benchmarks of bench/ against Redis and the Python managers
#   make install build in Release and install into $(PREFIX) (PREFIX=... to choose; default
#                /usr/local): programs, libraries, headers, depotConfig.cmake and depot.pc
#   make uninstall  remove what make install put there
#   make format  clang-format every C++ file in place

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 30
JOBS       ?= $(shell nproc)
ADDRESS    ?= 127.0.0.1:5000
ADMIN_ADDRESS ?= 127.0.0.1:5001
AUTHKEY    ?=
DATA_DIR   ?= depot-data
TLS        ?=
PREFIX     ?= /usr/local
INSTALL_BUILD ?= $(BUILD)-install

# Exactly what the build and the tests need, from Debian; make install needs only the first line
# (systemd: only its systemd-analyze, which verifies packaging/depot-manager.service).
LIB_PACKAGES   = cmake make g++ libboost-dev libboost-serialization-dev libssl-dev libpoco-dev libedit-dev
PACKAGES       = $(LIB_PACKAGES) catch2 pkg-config python3 python3-pytest python3-msgpack python3-prometheus-client python3-tornado \
                 clang systemd chromium $(NODE_PACKAGES)
# The dashboard's browser test (tests/dashboard) runs playwright-core with node and npm:
# Debian's nodejs and npm, unless a node with npm is there already (NodeSource's nodejs
# package brings its own npm, which Debian's npm package would conflict with).
NODE_PACKAGES  = $(if $(shell command -v node 2>/dev/null),,nodejs) $(if $(shell command -v npm 2>/dev/null),,npm)
BENCH_PACKAGES = redis-server redis-tools beanstalkd strace python3 python3-distributed python3-streamz \
                 libmsgpack-cxx-dev
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
SOURCES = $(shell git ls-files '*.cpp' '*.h' 2>/dev/null)

.PHONY: deps bench-deps build build-asan run test test-plain test-asan fuzz bench install uninstall \
        format format-check clean

# sudo for make install / uninstall when the current user cannot write to $(PREFIX) (expanded
# only in their recipes).
PREFIX_SUDO = $(shell mkdir -p "$(PREFIX)" 2>/dev/null; [ -w "$(PREFIX)" ] || echo $(SUDO))

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

# The admin endpoint (docs/operations.md) listens on $(ADMIN_ADDRESS): the dashboard at /,
# Prometheus metrics at /metrics. The data directory keeps the queues across restarts, and the generated key with them
# ($(DATA_DIR)/authkey), so a restarted `make run` serves the same clients the same state.
# TLS=1: scripts/dev-certs.sh makes a CA and certificates in $(DATA_DIR)/certs (kept, so
# clients keep trusting the same CA), and the manager serves TLS with server.crt.
TLS_FLAGS = $(if $(TLS),--tls-cert $(DATA_DIR)/certs/server.crt --tls-key $(DATA_DIR)/certs/server.key)
run: build
	@mkdir -p $(DATA_DIR)
	@if [ -n "$(TLS)" ]; then \
	  scripts/dev-certs.sh $(DATA_DIR)/certs >/dev/null || exit 1; \
	  echo "TLS: clients connect with: $(BUILD)/bin/depot-cli -a tls://$(ADDRESS) --tls-ca $(DATA_DIR)/certs/ca.crt -k KEY ping"; \
	  echo "     (or DEPOT_TLS_CA=$(DATA_DIR)/certs/ca.crt; kill -HUP the manager to reload its certificate)"; \
	fi
	@if [ -n "$(AUTHKEY)" ]; then \
	  echo "authkey: $(AUTHKEY)"; \
	  echo "dashboard: http://$(ADMIN_ADDRESS)/   (metrics: http://$(ADMIN_ADDRESS)/metrics)"; \
	  exec $(BUILD)/bin/depot-manager --address $(ADDRESS) --authkey "$(AUTHKEY)" --data-dir $(DATA_DIR) --admin-address $(ADMIN_ADDRESS) $(TLS_FLAGS); \
	else \
	  [ -s $(DATA_DIR)/authkey ] || (umask 077; od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > $(DATA_DIR)/authkey); \
	  echo "authkey: $$(cat $(DATA_DIR)/authkey)   (kept in $(DATA_DIR)/authkey)"; \
	  echo "dashboard: http://$(ADMIN_ADDRESS)/   (metrics: http://$(ADMIN_ADDRESS)/metrics)"; \
	  exec $(BUILD)/bin/depot-manager --address $(ADDRESS) --authkey-file $(DATA_DIR)/authkey --data-dir $(DATA_DIR) --admin-address $(ADMIN_ADDRESS) $(TLS_FLAGS); \
	fi

test-plain: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

test-asan: build-asan
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j$(JOBS)

# The frame decoder and the handshake under libFuzzer, for a bounded time (clang only; the
# Catch2 driver tests/manager/test_fuzz.cpp runs the same checks in both test runs).
fuzz: deps
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ \
	  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined" -DDEPOT_FUZZ_SECONDS=$(FUZZ_SECONDS)
	cmake --build $(FUZZ_BUILD) -j$(JOBS) --target fuzz_frame
	cd $(FUZZ_BUILD) && ctest --output-on-failure -L fuzz

# The sanitizer run comes first so that the last line printed counts the plain run's tests.
test: fuzz test-asan test-plain

bench: bench-deps
	cmake -S . -B $(BUILD)-release -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD)-release -j$(JOBS)
	BUILD=$(CURDIR)/$(BUILD)-release bash bench/run_all.sh

# The libraries and programs only (no tests, samples or benchmarks), in their own build
# directory so that the test builds keep their build types.
install:
	$(call install,$(LIB_PACKAGES))
	cmake -S . -B $(INSTALL_BUILD) -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$(PREFIX)" \
	  -DDEPOT_BUILD_TESTS=OFF -DDEPOT_BUILD_SAMPLES=OFF -DDEPOT_BUILD_BENCH=OFF -DDEPOT_INSTALL=ON
	cmake --build $(INSTALL_BUILD) -j$(JOBS)
	$(PREFIX_SUDO) cmake --install $(INSTALL_BUILD) --prefix "$(PREFIX)"

# Removes the files the last make install listed (give it the same PREFIX), then depot's own
# directories if they are left empty.
uninstall:
	@test -f $(INSTALL_BUILD)/install_manifest.txt || \
	  { echo "nothing to uninstall: $(INSTALL_BUILD)/install_manifest.txt (written by make install) is missing"; exit 1; }
	$(PREFIX_SUDO) xargs -d '\n' rm -fv < $(INSTALL_BUILD)/install_manifest.txt
	grep -o '.*/include/depot/\|.*/cmake/depot/' $(INSTALL_BUILD)/install_manifest.txt | sort -u | \
	  xargs -r -d '\n' -I{} $(PREFIX_SUDO) find {} -depth -type d -empty -delete

format:
	clang-format -i $(SOURCES)

format-check:
	clang-format --dry-run --Werror $(SOURCES)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(BUILD)-release $(INSTALL_BUILD)
