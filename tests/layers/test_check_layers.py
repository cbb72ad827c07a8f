#!/usr/bin/python3
"""The negative self-test of check_layers.py: on fixture trees that break the layer rule it must
report exactly the violations planted there (file:line) and exit 1, and on a tree whose table it
cannot read it must exit 2. A checker that matched nothing, or read no table, would otherwise
pass on the real tree without checking anything.

Usage: test_check_layers.py   (exit status 0 when the checker behaves, 1 with the reasons)
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKER = os.path.join(HERE, "check_layers.py")

# What fixtures/violations plants: the place, and a phrase the report must carry there. Each
# comes from reading the fixture, not from the checker's output.
EXPECTED = {
    "src/depot/CMakeLists.txt:19": "depot_queue links depot_manager (PRIVATE_DEPS)",
    "src/depot/CMakeLists.txt:21": "depot_executor links depot_nothing (DEPS), which is no depot",
    "src/depot/CMakeLists.txt:25": "depot_protocol links depot_streams (target_link_libraries)",
    "src/depot/protocol/frame.h:5": "(rule: protocol -> (nothing in depot))",
    "src/depot/queue/nested/deep.h:5": '"depot/nolayer/thing.h", which is in no layer',
    "src/depot/manager/server.cpp:4": "(rule: manager -> protocol, queue)",
    "src/depot/executor/executor.cpp:4": '"depot/manager/server.h" of depot_manager',
    "src/depot/executor/executor.cpp:6": '"depot/executor/local.h" of depot_local',
    "src/depot/streams/stream.h:5": "(rule: streams -> (nothing in depot))",
}


def run(fixture):
    root = os.path.join(HERE, "fixtures", fixture)
    p = subprocess.run([sys.executable, CHECKER, "--root", root], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def main():
    failures = []

    code, out, err = run("violations")
    if code != 1:
        failures.append(f"fixtures/violations: exit status {code}, expected 1\n{out}{err}")
    reported = {}
    for line in out.splitlines():
        if line.startswith("check_layers:"):
            continue  # the summary
        place = ":".join(line.split(":", 2)[:2])
        reported[place] = line
    for place, phrase in EXPECTED.items():
        if place not in reported:
            failures.append(f"fixtures/violations: {place} is not reported (expected '{phrase}')")
        elif phrase not in reported[place]:
            failures.append(f"fixtures/violations: {place} is reported as\n  {reported[place]}\n"
                            f"which does not say '{phrase}'")
    # The fixture's allowed includes (local.h -> manager, manager -> queue -> protocol, ...)
    # must not be reported.
    for place in sorted(set(reported) - set(EXPECTED)):
        failures.append(f"fixtures/violations: reports {reported[place]!r}, which is allowed")

    code, out, err = run("no_table")
    if code != 2 or "no layer table" not in err:
        failures.append(f"fixtures/no_table: exit status {code} and '{err.strip()}', expected 2 "
                        "and 'no layer table'")

    for f in failures:
        print(f"FAIL {f}")
    if not failures:
        print(f"check_layers.py reports the {len(EXPECTED)} planted violations and refuses a tree "
              "without a layer table")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
