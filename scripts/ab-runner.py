#!/usr/bin/env python3
"""A/B of two builds of the bench runner (benches/src/runner.rs), alternating.

    scripts/ab-runner.py BEFORE_BIN AFTER_BIN [--rounds 5] [--scale 3] [--workers 1] [cases...]

Runs BEFORE, then AFTER, `--rounds` times (so the two see the same machine in turn),
each with `--json`, and prints, per case, the min and median ns/op of each build, the
after/before ratio of the medians, and the ratio to the floor that each run measured in
its own process (median). Both builds must be of the same runner (same cases and units).
The binaries are the release `zeta-bench` of each checkout, e.g. built with
`CARGO_TARGET_DIR=/tmp/a cargo build --release -p zeta-bench` in a worktree of the
earlier commit.

`--workers manual` runs both with `--manual`; `--after-workers` gives AFTER its own
(e.g. the same binary twice, `--workers 1 --after-workers manual`: the ManualScheduler
against one worker).
"""
import argparse
import json
import statistics
import subprocess
import sys


def run(binary, scale, workers, cases):
    threads = ["--manual"] if workers == "manual" else ["--workers", str(workers)]
    cmd = [binary, "--json", "--scale", str(scale), *threads, *cases]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    doc = json.loads(out)
    if doc.get("failed"):
        sys.exit(f"{binary}: {doc['failed']} case(s) failed")
    return {c["name"]: (c["unit"], c["ns_per_op"], c["floor"]["ns_per_op"]) for c in doc["cases"]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("cases", nargs="*")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scale", default="3")
    parser.add_argument("--workers", default="1")
    parser.add_argument("--after-workers", default=None)
    args = parser.parse_intermixed_args()

    samples = {"before": {}, "after": {}}
    units = {}
    for round_ in range(args.rounds):
        after_workers = args.after_workers or args.workers
        for label, binary, workers in (("before", args.before, args.workers),
                                       ("after", args.after, after_workers)):
            for name, (unit, ns, floor) in run(binary, args.scale, workers, args.cases).items():
                units[name] = unit
                samples[label].setdefault(name, []).append((ns, floor))
        print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)

    workers = args.workers if not args.after_workers else f"{args.workers} -> {args.after_workers}"
    print(f"A/B: {args.rounds} alternations, scale {args.scale}, workers {workers}; "
          "ns/op min / median; x floor = the run's ns/op / the floor's in the same process (median)")
    print()
    print("| case | unit | before min | before median | before x floor | after min | after median "
          "| after x floor | after / before (medians) |")
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|")
    for name in samples["before"]:
        b = samples["before"][name]
        a = samples["after"][name]
        b_ns = [ns for ns, _ in b]
        a_ns = [ns for ns, _ in a]
        b_ratio = statistics.median(ns / floor for ns, floor in b)
        a_ratio = statistics.median(ns / floor for ns, floor in a)
        print(f"| {name} | {units[name]} | {min(b_ns):.1f} | {statistics.median(b_ns):.1f} | "
              f"{b_ratio:.2f} | {min(a_ns):.1f} | {statistics.median(a_ns):.1f} | {a_ratio:.2f} | "
              f"{statistics.median(a_ns) / statistics.median(b_ns):.2f} |")


if __name__ == "__main__":
    main()
