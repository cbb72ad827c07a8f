#!/usr/bin/python3
"""Checks a /metrics scrape with Prometheus's own text parser (python3-prometheus-client).

Usage: validate_metrics.py SCRAPE_FILE EXPECT_FILE

EXPECT_FILE is JSON: {"types": {family: type, ...},
                      "samples": [[sample_name, {label: value}, number], ...],
                      "at_least": [[sample_name, {label: value}, number], ...]}
Families are named as the parser names them (a counter's without its _total suffix).
Besides what EXPECT_FILE asks, every family must have a # HELP text and a # TYPE other than
untyped, a depot_ name, and counters' samples must end in _total. Prints every problem and
exits 1 when there is one, 0 otherwise.
"""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    text = open(sys.argv[1], encoding="utf-8").read()
    expect = json.load(open(sys.argv[2], encoding="utf-8"))
    problems = []
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as e:  # the parser's own complaint is the finding
        print(f"the Prometheus parser rejects the scrape: {e!r}")
        return 1
    by_name = {}
    samples = {}
    for f in families:
        if f.name in by_name:
            problems.append(f"family {f.name} appears twice")
        by_name[f.name] = f
        if not f.name.startswith("depot_"):
            problems.append(f"family {f.name} lacks the depot_ prefix")
        if f.type in ("untyped", "unknown"):
            problems.append(f"family {f.name} has no # TYPE line")
        if not f.documentation:
            problems.append(f"family {f.name} has no # HELP text")
        for s in f.samples:
            if f.type == "counter" and not s.name.endswith("_total"):
                problems.append(f"counter sample {s.name} does not end in _total")
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    for name, typ in expect.get("types", {}).items():
        if name not in by_name:
            problems.append(f"family {name} is missing")
        elif by_name[name].type != typ:
            problems.append(f"family {name} is a {by_name[name].type}, expected a {typ}")

    def value_of(name, labels):
        return samples.get((name, tuple(sorted(labels.items()))))

    for name, labels, want in expect.get("samples", []):
        got = value_of(name, labels)
        if got is None:
            problems.append(f"sample {name}{labels} is missing")
        elif got != want:
            problems.append(f"sample {name}{labels} is {got}, expected {want}")
    for name, labels, want in expect.get("at_least", []):
        got = value_of(name, labels)
        if got is None:
            problems.append(f"sample {name}{labels} is missing")
        elif got < want:
            problems.append(f"sample {name}{labels} is {got}, expected at least {want}")
    for p in problems:
        print(p)
    print(f"{len(families)} families, {len(samples)} samples, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
