"""Handover benchmark for the mesh manager (`make bench-manager`).

1. `ctrlmesh-bench handover`: 10,000 ConfigMaps sharded by object hash over 3 shards; a 4th
   shard joins and leaves 5 times each. Printed: per event, the time from the scale event until
   every object is in exactly one member's informer again (p50/p99 over the events), the
   manager's per-slot handover times, and objects held by two informers at once.
2. The same at scale, `--runs` times: 20,000 ConfigMaps over 8 shards, scaled 8 -> 9 -> 8 five
   times while 50 ConfigMaps a second change; every run's latencies and the manager's per-slot
   times go to `--json` for the chart.
3. `ctrlmesh demo --clonesets 3400 --namespaces 100`: the sample operator reconciling about
   10,200 objects (3,400 CloneSets and their pods) while a shard joins and leaves; printed: the
   audit of every write the proxies made (keys written by two shards at overlapping epochs must
   be 0) and the manager's handover times.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time


def run(args, timeout):
    started = time.time()
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout, time.time() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ctrlmesh", required=True)
    parser.add_argument("--bench", required=True)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--json", help="write the at-scale handover latencies here")
    options = parser.parse_args()

    for run_index in range(options.runs):
        out, _ = run([options.bench, "handover", "--objects", "10000", "--events", "10"], timeout=900)
        print(f"== handover run {run_index + 1}")
        for line in out.splitlines():
            if line.startswith(("handover", "manager", "objects")):
                print("  " + line)

    at_scale = ["--objects", "20000", "--shards", "8", "--events", "10", "--churn", "50"]
    runs = []
    for run_index in range(options.runs):
        record = tempfile.NamedTemporaryFile(suffix=".json", delete=False).name
        out, _ = run([options.bench, "handover", *at_scale, "--json", record], timeout=1800)
        with open(record) as f:
            runs.append(json.load(f))
        os.unlink(record)
        print(f"== handover at scale, run {run_index + 1}: 20,000 objects, 8 <-> 9 shards, 50 changes/s")
        for line in out.splitlines():
            if line.startswith(("handover", "manager", "objects")):
                print("  " + line)
    if options.json:
        with open(options.json, "w") as f:
            json.dump({key: runs[0][key] for key in ("objects", "shards", "churnPerSecond")} | {"runs": runs}, f, indent=1)

    out, elapsed = run([options.ctrlmesh, "demo", "--clonesets", "3400", "--namespaces", "100",
                        "--kubeconfig-out", "/tmp/ctrlmesh-bench-demo.kubeconfig"], timeout=1800)
    print(f"== demo with 3,400 CloneSets ({elapsed:.0f} s)")
    for line in out.splitlines():
        if re.match(r"^(ShardingConfig|audit|  PASS|  FAIL|ctrlmesh demo: (PASSED|FAILED))", line):
            print("  " + line)


if __name__ == "__main__":
    main()
