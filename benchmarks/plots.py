#!/usr/bin/env python3
"""Charts of the benchmark results (PNG, matplotlib), from the JSON the harnesses write under
benchmarks/results/:

  scale     scale_bench.py --json results/scale.json (client-limited) and results/scale-cpu.json
            (limits raised until the 2 cores bind) -> plots/scale-throughput.png, plots/scale-memory.png
  handover  ctrlmesh-bench handover --json ...handover.json -> plots/handover-latency.png
  proxy     proxy_bench.py --json results/proxy.json     -> plots/proxy-overhead.png

`plots.py scale handover proxy` draws the ones named; a missing result file is an error.
`--results` and `--out` read and write elsewhere (the short pass in `make test` does).
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
PLOTS = os.path.join(HERE, "plots")


def load(name):
    path = os.path.join(RESULTS, f"{name}.json")
    if not os.path.exists(path):
        sys.exit(f"plots.py: {path} is missing; run the benchmark that writes it first")
    with open(path) as f:
        return json.load(f)


def save(figure, name):
    os.makedirs(PLOTS, exist_ok=True)
    path = os.path.join(PLOTS, name)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    print(f"wrote {path}")


def ratios_to_direct(results):
    """(shard counts, throughput ÷ the direct operator's, the sharded results)."""
    sharded = [r for r in results if r["shards"] > 0]
    return [r["shards"] for r in sharded], [r["throughput"] / results[0]["throughput"] for r in sharded], sharded


def scale():
    data = load("scale")
    cpu_bound = load("scale-cpu")
    results = data["results"]
    direct = results[0]
    shards, ratios, sharded = ratios_to_direct(results)
    top = max(shards + [5])

    figure, axis = plt.subplots(figsize=(6.4, 4.4))
    axis.plot([1, top], [1, top], color="grey", linestyle="--", label="ideal (N x one operator)")
    axis.plot([1, top], [0.9, 0.9 * top], color="grey", linestyle=":", label="target 0.9·N")
    axis.plot(*zip(*data["sharder"]), marker="s", linestyle="none", color="tab:orange",
              label="the sharder, published: objects within SLO, 1 and 5 instances")
    args, cpu_args = data["args"], cpu_bound["args"]
    for run, color, label in ((data, "tab:blue", f"ctrlmesh, QPS {args['qps']:g} per operator (client-limited)"),
                              (cpu_bound, "tab:green", f"ctrlmesh, QPS {cpu_args['qps']:g} per operator (the 2 cores bind)")):
        counts, run_ratios, run_sharded = ratios_to_direct(run["results"])
        axis.plot(counts, run_ratios, marker="o", color=color, label=label)
        for n, ratio, r in zip(counts[1:], run_ratios[1:], run_sharded[1:]):  # 1 shard sits on the direct point
            axis.annotate(f"{ratio:.2f}x, CPU {r['machine_busy'] * 100:.0f}%", (n, ratio), textcoords="offset points",
                          xytext=(6, -12), fontsize=7, color=color)
    axis.set_xlabel("shards")
    axis.set_ylabel("changes observed per second ÷ one operator direct")
    axis.set_title(f"Reconcile throughput, {args['clonesets']:,} CloneSets x 3 pods, API latency {args['latency_ms']:g} ms, 2 cores\n"
                   f"(direct: {direct['throughput']:.1f} changes/s at QPS {args['qps']:g}, "
                   f"{cpu_bound['results'][0]['throughput']:.1f} at QPS {cpu_args['qps']:g})", fontsize=9)
    axis.set_xticks(sorted(set(shards + [5])))
    axis.legend(fontsize=8, loc="upper left")
    axis.grid(alpha=0.3)
    save(figure, "scale-throughput.png")

    figure, axis = plt.subplots(figsize=(6.4, 4.4))
    base = max(direct["informer_mib"])
    axis.plot(shards, [max(r["informer_mib"]) for r in sharded], marker="o", label="informer memory per shard (largest)")
    axis.plot(shards, [max(r["operator_rss_mib"]) for r in sharded], marker="^", label="operator RSS per shard (largest)")
    axis.plot(shards, [max(r["proxy_rss_mib"]) for r in sharded], marker="v", label="proxy RSS per shard (largest)")
    axis.plot(shards, [base / n for n in shards], color="grey", linestyle="--", label=f"direct operator's informer memory ÷ N ({base:.0f} MiB at 1)")
    axis.set_xlabel("shards")
    axis.set_ylabel("MiB")
    axis.set_xscale("log", base=2)
    axis.set_xticks(shards, [str(n) for n in shards])
    axis.set_title("Memory per shard\n(informer memory: operator RSS − the same operator with empty caches)", fontsize=10)
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    save(figure, "scale-memory.png")


def handover():
    data = load("handover")
    latencies = [float(v) for run in data["runs"] for v in run["latenciesMilliseconds"]]
    figure, axis = plt.subplots(figsize=(6.4, 4.0))
    ordered = sorted(latencies)
    axis.plot(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))], marker="o", drawstyle="steps-post")
    axis.axvline(1000, color="tab:red", linestyle="--", label="target p99 < 1 s")
    axis.set_xlabel("scale event -> every object in exactly one informer (ms)")
    axis.set_ylabel(f"fraction of scale events ({len(latencies)}, {len(data['runs'])} runs)")
    axis.set_xlim(left=0, right=max(1100, ordered[-1] * 1.1))
    axis.set_title(f"Handover latency: {data['objects']:,} objects, {data['shards']} <-> {data['shards'] + 1} shards, "
                   f"{float(data['churnPerSecond']):g} changes/s", fontsize=10)
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    save(figure, "handover-latency.png")


def proxy():
    data = load("proxy")
    names = ["direct", "nginx", "ctrlmesh proxy", "kubectl proxy"]
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 4.0))
    width = 0.38
    for offset, conns in ((-width / 2, 1), (width / 2, 64)):
        rps = [data["passthrough"][f"{n}|{conns}"]["rps"] for n in names]
        left.bar([i + offset for i in range(len(names))], rps, width, label=f"{conns} connection{'s' if conns > 1 else ''}")
        base = data["passthrough"][f"direct|{conns}"]["p50_ms"]
        added = [data["passthrough"][f"{n}|{conns}"]["p50_ms"] - base for n in names[1:]]
        right.bar([i + offset for i in range(len(names) - 1)], added, width, label=f"{conns} connection{'s' if conns > 1 else ''}")
    left.set_xticks(range(len(names)), names, fontsize=8)
    left.set_ylabel("passthrough GET, requests/s")
    left.legend(fontsize=8)
    right.set_xticks(range(len(names) - 1), names[1:], fontsize=8)
    right.set_ylabel("added p50 latency over direct (ms)")
    right.legend(fontsize=8)
    for axis in (left, right):
        axis.grid(alpha=0.3, axis="y")
    figure.suptitle("Proxy overhead (make bench-proxy, wrk, one run, 2 cores)", fontsize=10)
    save(figure, "proxy-overhead.png")


CHARTS = {"scale": scale, "handover": handover, "proxy": proxy}


def main():
    global RESULTS, PLOTS
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("charts", nargs="+", choices=sorted(CHARTS))
    parser.add_argument("--results", default=RESULTS, help="where the result JSON files are")
    parser.add_argument("--out", default=PLOTS, help="where the PNG files go")
    args = parser.parse_args()
    RESULTS, PLOTS = args.results, args.out
    for name in args.charts:
        CHARTS[name]()


if __name__ == "__main__":
    main()
