#!/usr/bin/env python3
"""Runs the libFuzzer harnesses of `ctrlmesh-fuzz` (built by `make fuzz-build`).

  --smoke      each harness over its committed corpus, then a few seconds of fuzzing (make test)
  --runs N     each harness until N executions (make fuzz), then merges what found new coverage
               into the committed corpus and prints a table of the figures
  --only a,b   only these harnesses, in this order

A harness fails on a crash, a memory error (AddressSanitizer), a hang (10 s), or an input that
takes more than 100 ms of CPU (the harness measures each input itself). The failing input is kept
under .build-fuzz/artifacts/.
"""
import argparse
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "Fuzz", "corpus")
WORK = os.path.join(ROOT, ".build-fuzz")
TARGETS = ["json", "json-list-filter", "json-watch-filter", "protobuf", "protobuf-list-filter", "protobuf-watch-filter",
           "selectors", "request", "patch", "config", "yaml"]


def run(binary, target, args, log):
    # Swift's own crash backtracer reads memory AddressSanitizer then reports: leave crashes to libFuzzer.
    env = dict(os.environ, CTRLMESH_FUZZ_TARGET=target, SWIFT_BACKTRACE="enable=no")
    artifacts = os.path.join(WORK, "artifacts")
    os.makedirs(artifacts, exist_ok=True)
    command = [binary, f"-artifact_prefix={artifacts}/{target}-", "-timeout=10", "-rss_limit_mb=4096", "-print_final_stats=1",
               "-max_len=8192", *args]
    started = time.time()
    with open(log, "w") as out:
        result = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    text = open(log).read()
    executed = int(m.group(1)) if (m := re.search(r"stat::number_of_executed_units:\s+(\d+)", text)) else 0
    speed = int(m.group(1)) if (m := re.search(r"stat::average_exec_per_sec:\s+(\d+)", text)) else 0
    slowest = max((int(x) for x in re.findall(r"slowest unit: (\d+) s", text)), default=0)
    return result.returncode, executed, speed, time.time() - started, slowest


def corpus(target):
    return os.path.join(CORPUS, target)


def smoke(binary, seconds):
    failed = []
    for target in TARGETS:
        work = os.path.join(WORK, "smoke", target)
        os.makedirs(work, exist_ok=True)
        log = os.path.join(WORK, f"smoke-{target}.log")
        code, replayed, _, _, _ = run(binary, target, ["-runs=0", corpus(target)], log)
        if code == 0:
            code, executed, speed, _, _ = run(binary, target, [f"-max_total_time={seconds}", work, corpus(target)], log)
        else:
            executed, speed = 0, 0
        status = "ok" if code == 0 else f"FAILED (see {log})"
        print(f"fuzz {target:22} corpus {len(os.listdir(corpus(target))):4} inputs, {executed:>9} executions ({speed}/s): {status}", flush=True)
        if code:
            failed.append(target)
    return failed


def long_run(binary, runs, jobs, targets):
    def one(target):
        work = os.path.join(WORK, "corpus", target)
        os.makedirs(work, exist_ok=True)
        log = os.path.join(WORK, f"fuzz-{target}.log")
        outcome = run(binary, target, [f"-runs={runs}", work, corpus(target)], log)
        if outcome[0] == 0:
            # Keep what found new coverage, minimised, in the committed corpus.
            run(binary, target, ["-merge=1", corpus(target), work], os.path.join(WORK, f"merge-{target}.log"))
        return target, outcome, log

    failed = []
    print("| harness | executions | exec/s | time | corpus | result |")
    print("|---|---|---|---|---|---|")
    with ThreadPoolExecutor(jobs) as pool:
        for target, (code, executed, speed, seconds, _), log in pool.map(one, targets):
            result = "no crash, hang or slow input" if code == 0 and executed >= runs else f"FAILED (exit {code}, see {log})"
            print(f"| {target} | {executed:,} | {speed:,} | {seconds / 60:.1f} min | {len(os.listdir(corpus(target)))} | {result} |", flush=True)
            if result.startswith("FAILED"):
                failed.append(target)
    return failed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(WORK, "release", "ctrlmesh-fuzz"))
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--runs", type=int, default=10_000_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", help="comma-separated harnesses, run in this order (default: all)")
    args = parser.parse_args()
    if not os.path.exists(args.binary):
        sys.exit(f"{args.binary} is missing: run `make fuzz-build`")
    targets = args.only.split(",") if args.only else TARGETS
    if unknown := [t for t in targets if t not in TARGETS]:
        sys.exit(f"unknown harness: {', '.join(unknown)} (known: {', '.join(TARGETS)})")
    failed = smoke(args.binary, args.seconds) if args.smoke else long_run(args.binary, args.runs, args.jobs, targets)
    if failed:
        sys.exit(f"fuzzing failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
