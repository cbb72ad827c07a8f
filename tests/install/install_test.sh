#!/usr/bin/env bash
# depot as another project uses it: tests/install/CMakeLists.txt runs this once per case.
#
#   prefix            cmake --install the build into a scratch prefix and check its layout
#   headers           every installed header compiles on its own from the prefix alone
#   find_package      consumer/ built with find_package(depot) against the prefix, run
#                     against the installed depot-manager (and an embedded manager)
#   add_subdirectory  parent/ builds depot from source as a subdirectory, run against a manager
#   pkg_config        consumer/*.cpp built with `pkg-config --cflags --libs depot`, run
#
# The environment comes from the CMakeLists: DEPOT_SOURCE_DIR, DEPOT_BUILD_DIR, TEST_WORK_DIR,
# TEST_CMAKE, TEST_GENERATOR, TEST_CXX, TEST_BUILD_TYPE, TEST_SANITIZE, TEST_LAUNCHER,
# TEST_BOOST_INCLUDE. Every failure says what broke and where its output is.
set -euo pipefail

case_name=${1:?usage: install_test.sh prefix|headers|find_package|add_subdirectory|pkg_config}
prefix=$TEST_WORK_DIR/prefix
work=$TEST_WORK_DIR/work-$case_name
key=install-test-key
manager_pid=""

fail() {
  echo "FAIL install.$case_name: $*" >&2
  exit 1
}

# Runs a command with its output in a log; on failure prints the log's tail and fails.
logged() {
  local log=$1
  shift
  echo "+ $*" >"$log"
  if ! "$@" >>"$log" 2>&1; then
    echo "---- last lines of $log:" >&2
    tail -n 60 "$log" >&2
    fail "command failed: $*"
  fi
}

stop_manager() {
  if [ -n "$manager_pid" ]; then
    kill "$manager_pid" 2>/dev/null || true
    wait "$manager_pid" 2>/dev/null || true
    manager_pid=""
  fi
}
trap stop_manager EXIT

# start_manager BINARY: a manager on a free port; sets manager_address.
start_manager() {
  "$1" --address 127.0.0.1:0 --authkey "$key" >"$work/manager.out" 2>"$work/manager.err" &
  manager_pid=$!
  # The manager prints `depot-manager listening on HOST:PORT`, then `ready`. Bounded wait on
  # that state (a sanitized manager on a loaded machine takes a while to start).
  local i
  for ((i = 0; i < 1200; i++)); do
    grep -qx ready "$work/manager.out" && break
    if ! kill -0 "$manager_pid" 2>/dev/null; then
      cat "$work/manager.err" >&2
      fail "$1 exited before printing ready"
    fi
    sleep 0.1
  done
  grep -qx ready "$work/manager.out" || fail "$1 did not print ready within 120 s"
  manager_address=$(sed -n 's/^depot-manager listening on //p' "$work/manager.out")
  [ -n "$manager_address" ] || fail "$1 printed no 'depot-manager listening on HOST:PORT' line"
}

# A manager stopped with SIGTERM shuts down gracefully and exits 0 (under ASan: without leaks).
stop_manager_cleanly() {
  kill -TERM "$manager_pid"
  local status=0
  wait "$manager_pid" || status=$?
  manager_pid=""
  if [ "$status" -ne 0 ]; then
    cat "$work/manager.err" >&2
    fail "the manager exited with status $status on SIGTERM"
  fi
}

# expect_output FILE EXPECTED WHAT: FILE's content must be exactly EXPECTED.
expect_output() {
  local actual
  actual=$(cat "$1")
  if [ "$actual" != "$2" ]; then
    printf 'expected:\n%s\ngot:\n%s\n' "$2" "$actual" >&2
    fail "$3 printed the wrong output"
  fi
}

# run_consumer PROGRAM CLI: the client program against the running manager; then the installed
# (or built) depot-cli takes the item it left behind.
run_consumer() {
  local cli=$2
  logged "$work/consumer.log" "$1" "$manager_address" "$key"
  sed 1d "$work/consumer.log" >"$work/consumer.out"
  expect_output "$work/consumer.out" "got: hello from outside
qsize after get: 0
job 7: resize" "$1"
  "$cli" -a "$manager_address" -k "$key" get install-handoff --timeout 30 >"$work/cli.out" ||
    fail "$cli get install-handoff failed"
  expect_output "$work/cli.out" "left for the cli" "$cli get install-handoff"
}

run_embedded() {
  logged "$work/embedded.log" "$1"
  sed 1d "$work/embedded.log" >"$work/embedded.out"
  expect_output "$work/embedded.out" "embedded manager: sum 6, qsize 0" "$1"
}

# Options every nested CMake project gets: the same compiler, build type and generator.
cmake_args=(-G "$TEST_GENERATOR" -DCMAKE_CXX_COMPILER="$TEST_CXX" -DCMAKE_BUILD_TYPE="$TEST_BUILD_TYPE")
launcher=$TEST_LAUNCHER
if [ -z "$launcher" ] && command -v ccache >/dev/null; then launcher=ccache; fi
if [ -n "$launcher" ]; then cmake_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER="$launcher"); fi

need_prefix() {
  [ -f "$prefix/.installed" ] || fail "no installed prefix at $prefix: install.prefix must pass first"
}

rm -rf "$work"
mkdir -p "$work"

case $case_name in
prefix)
  rm -rf "$prefix"
  if ! "$TEST_CMAKE" --install "$DEPOT_BUILD_DIR" --prefix "$prefix" >"$work/install.log" 2>&1; then
    tail -n 30 "$work/install.log" >&2
    fail "cmake --install $DEPOT_BUILD_DIR failed (is everything built? cmake --build $DEPOT_BUILD_DIR)"
  fi
  for f in bin/depot-manager bin/depot-cli bin/depot-benchmark; do
    [ -x "$prefix/$f" ] || fail "the install has no program $f"
  done
  config=$(find "$prefix" -path '*/cmake/depot/depotConfig.cmake')
  [ -n "$config" ] || fail "the install has no lib/cmake/depot/depotConfig.cmake"
  libdir=${config#"$prefix/"}
  libdir=${libdir%/cmake/depot/depotConfig.cmake}
  for f in cmake/depot/depotConfig.cmake cmake/depot/depotConfigVersion.cmake \
    cmake/depot/depotTargets.cmake pkgconfig/depot.pc; do
    [ -f "$prefix/$libdir/$f" ] || fail "the install has no $libdir/$f"
  done
  for l in protocol auth queue manager client executor local streams; do
    [ -f "$prefix/$libdir/libdepot_$l.a" ] || fail "the install has no $libdir/libdepot_$l.a"
  done
  for h in client/client.h client/remote_queue.h client/errors.h protocol/frame.h \
    manager/manager.h executor/executor.h executor/local.h streams/stream.h; do
    [ -f "$prefix/include/depot/$h" ] || fail "the install has no include/depot/$h"
  done
  # The service files, with the paths of this prefix (docs/configuration.md).
  unit="$prefix/lib/systemd/system/depot-manager.service"
  [ -f "$unit" ] || fail "the install has no lib/systemd/system/depot-manager.service"
  grep -qF "ExecStart=$prefix/bin/depot-manager --config $prefix/etc/depot/depot.conf" "$unit" ||
    fail "the installed unit's ExecStart does not name $prefix/bin and $prefix/etc: $(grep ExecStart "$unit")"
  for f in depot.conf depot.env; do
    [ -f "$prefix/share/depot/packaging/$f" ] || fail "the install has no share/depot/packaging/$f"
  done
  [ "$(stat -c %a "$prefix/share/depot/packaging/depot.env")" = 600 ] ||
    fail "share/depot/packaging/depot.env is not mode 0600"
  # Internal headers stay out; the headers test proves no public header needs one.
  for h in manager/server.h client/call_util.h queue/queue.h; do
    [ ! -e "$prefix/include/depot/$h" ] || fail "internal header include/depot/$h was installed"
  done
  for d in "$prefix"/include/*; do
    [ "$d" = "$prefix/include/depot" ] || fail "the install puts headers outside include/depot/: $d"
  done
  # Nothing installed points back into the source or build tree: the prefix stands alone.
  # (The scratch prefix lies in the build tree, so its own path is taken out first.)
  leaks=""
  while IFS= read -r -d '' f; do
    if grep -qI . "$f" && sed "s|$prefix||g" "$f" | grep -qF -e "$DEPOT_SOURCE_DIR" -e "$DEPOT_BUILD_DIR"; then
      leaks+=" ${f#"$prefix/"}"
    fi
  done < <(find "$prefix" -type f -print0)
  [ -z "$leaks" ] || fail "installed files name the source or build tree:$leaks"
  touch "$prefix/.installed"
  echo "installed into $prefix"
  ;;

headers)
  need_prefix
  count=0
  while IFS= read -r -d '' h; do
    rel=${h#"$prefix/include/"}
    # Each quoted depot include must name an installed header.
    while IFS= read -r inc; do
      [ -f "$prefix/include/$inc" ] ||
        fail "include/$rel includes \"$inc\", which is not installed (an internal header in a public one)"
    done < <(sed -n 's/^#include "\(depot\/[^"]*\)".*/\1/p' "$h")
    # That each compiles on its own is tests/headers' business (every header, installed or
    # not); here, that what they include was installed with them.
    count=$((count + 1))
  done < <(find "$prefix/include/depot" -name '*.h' -print0 | sort -z)
  [ "$count" -gt 20 ] || fail "only $count headers under $prefix/include/depot"
  echo "$count installed headers include only installed headers"
  ;;

find_package)
  need_prefix
  logged "$work/configure.log" "$TEST_CMAKE" -S "$DEPOT_SOURCE_DIR/tests/install/consumer" \
    -B "$work/build" "${cmake_args[@]}" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
  found=$(sed -n 's/^depot_DIR:PATH=//p' "$work/build/CMakeCache.txt")
  [[ $found == "$prefix"/*/cmake/depot ]] || fail "find_package(depot) found $found, not the one in $prefix"
  logged "$work/build.log" "$TEST_CMAKE" --build "$work/build" -j2
  start_manager "$prefix/bin/depot-manager"
  run_consumer "$work/build/consumer" "$prefix/bin/depot-cli"
  stop_manager_cleanly
  run_embedded "$work/build/consumer_embedded"
  echo "find_package(depot): consumer and consumer_embedded built and ran"
  ;;

add_subdirectory)
  logged "$work/configure.log" "$TEST_CMAKE" -S "$DEPOT_SOURCE_DIR/tests/install/parent" \
    -B "$work/build" "${cmake_args[@]}" -DDEPOT_SOURCE_DIR="$DEPOT_SOURCE_DIR" \
    -DDEPOT_SANITIZE="$TEST_SANITIZE"
  cache=$work/build/CMakeCache.txt
  # As a subdirectory depot builds no tests or samples, so it never looks for Catch2 or POCO.
  if grep -E '^(Catch2|Poco)_DIR' "$cache"; then
    fail "configuring depot as a subdirectory looked for Catch2 or POCO (see $cache)"
  fi
  for o in DEPOT_BUILD_TESTS DEPOT_BUILD_SAMPLES DEPOT_BUILD_BENCH DEPOT_INSTALL DEPOT_WERROR; do
    grep -qx "$o:BOOL=OFF" "$cache" || fail "$o is not OFF by default under add_subdirectory"
  done
  logged "$work/build.log" "$TEST_CMAKE" --build "$work/build" --target app -j2
  start_manager "$DEPOT_BUILD_DIR/bin/depot-manager"
  run_consumer "$work/build/app" "$DEPOT_BUILD_DIR/bin/depot-cli"
  stop_manager_cleanly
  echo "add_subdirectory(depot): app built and ran"
  ;;

pkg_config)
  need_prefix
  command -v pkg-config >/dev/null || fail "pkg-config is not installed (apt-get install pkg-config; make deps does)"
  pc=$(find "$prefix" -name depot.pc -path '*/pkgconfig/*')
  [ -n "$pc" ] || fail "the install has no pkgconfig/depot.pc"
  PKG_CONFIG_PATH=$(dirname "$pc")
  export PKG_CONFIG_PATH
  pkg-config --print-errors --exists depot || fail "pkg-config cannot read $pc"
  version=$(pkg-config --modversion depot)
  cflags=$(pkg-config --cflags depot)
  libs=$(pkg-config --libs depot)
  echo "depot $version: cflags $cflags; libs $libs"
  [[ " $cflags " == *" -I$prefix/include "* ]] || fail "pkg-config --cflags depot lacks -I$prefix/include: $cflags"
  cxx=("$TEST_CXX")
  if [ -n "$launcher" ]; then cxx=("$launcher" "$TEST_CXX"); fi
  # The documented command lines (cmake/depot.pc.in, README.md), word-split as a shell does.
  # shellcheck disable=SC2086
  logged "$work/build.log" "${cxx[@]}" -Wall -Wextra -Werror \
    "$DEPOT_SOURCE_DIR/tests/install/consumer/main.cpp" -o "$work/consumer" $cflags $libs
  # shellcheck disable=SC2086
  logged "$work/build-embedded.log" "${cxx[@]}" -Wall -Wextra -Werror \
    "$DEPOT_SOURCE_DIR/tests/install/consumer/embedded.cpp" -o "$work/consumer_embedded" \
    $cflags -ldepot_manager -ldepot_admin -ldepot_store -ldepot_queue $libs -lPocoNet -lPocoFoundation
  start_manager "$prefix/bin/depot-manager"
  run_consumer "$work/consumer" "$prefix/bin/depot-cli"
  stop_manager_cleanly
  run_embedded "$work/consumer_embedded"
  echo "pkg-config depot: consumer and consumer_embedded built and ran"
  ;;

*)
  fail "unknown case (prefix, headers, find_package, add_subdirectory or pkg_config)"
  ;;
esac
