#!/usr/bin/env python3
"""Scale-out benchmark (`make bench-scale`): does sharding pay, and what does each shard cost?

Everything runs on this machine as separate processes, so each one's memory and CPU can be read:
`ctrlmesh apiserver --request-latency-ms` (a remote API server's round trip, emulated: netem is
not available in these kernels), node-sim playing the kubelet, one `ctrlmesh manager`, and per
shard an operator pod: a `ctrlmesh proxy --manager` and an unchanged `ctrlmesh sample-operator`
behind it with controller-runtime's client limits (QPS 20, burst 30) and a fixed number of
workers. Those limits and the latency are what bound a real operator; they are what sharding
divides.

1. Seeding, once: --clonesets CloneSets of 3 pods, reconciled by one unlimited operator and made
   Ready by node-sim; timed.
2. Per mode (one operator direct, the baseline; then 1, 2, 4 and 8 shards under the manager):
   - takeover: from starting the operators until their informers hold every object once and
     every CloneSet has been reconciled (the seeded objects need no write);
   - capacity: a closed loop keeps 20 changes per shard outstanding (spec.replicas 3 -> 4 and
     4 -> 3 alternately, each on a CloneSet with no change in flight); changes observed per second,
     a change counting when the CloneSet's status.observedGeneration reaches its generation;
   - latency: changes at half that capacity, open loop, for --latency-window seconds or until
     about 200 changes (at most three windows); p50, p90 and p99 from the patch to
     observedGeneration;
   - cost: each operator's and proxy's RSS after takeover and CPU over the churn, the API
     server's CPU, the machine's busy fraction, objects cached per shard, the operator's
     informer memory (its RSS over an operator with empty caches, direct or behind a proxy),
     and from the API server's request counts the writes and the proxies' reads per change.
   Every change must be observed and every CloneSet Ready before the mode ends.
Results: a table, and `--json` for `benchmarks/plots.py`.
"""
import argparse
import json
import os
import random
import re
import resource
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from harness import API, cloneset, cpu_seconds, proc_status

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "Tests", "interop"))

CLONESETS = "/apis/apps.kruise.io/v1alpha1/clonesets"
OUTSTANDING_PER_SHARD = 20
# A shard owning no namespace: the operator behind it caches nothing.
EMPTY_SHARD = """shard: empty
epoch: 1
resources:
- {apiGroups: [apps.kruise.io], resources: [clonesets], key: namespace}
- {apiGroups: [""], resources: [pods], key: namespace}
owned:
  namespaces: [no-such-namespace]
leaderElection: {resource: leases, namespace: ctrlmesh-system, name: cloneset-operator}
"""
LATENCY_SAMPLES = 200


def percentile(values, p):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered) + 0.5)) - 1))]


def rss_mib(pid):
    return proc_status(pid, "VmRSS")


def harness_cpu():
    """CPU seconds of this harness (its watch, patch threads and timing), which share the cores."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_busy():
    """(busy, total) jiffies of the whole machine."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def scrape(port):
    """Prometheus samples of an endpoint: {(name, labels text): value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    samples = {}
    for line in text.splitlines():
        match = re.match(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$", line)
        if match:
            samples[(match.group(1), match.group(2) or "")] = float(match.group(3))
    return samples


def sample(samples, name, label=""):
    return sum(v for (n, labels), v in samples.items() if n == name and label in labels)


class CloneSetWatch:
    """One watch on every CloneSet, straight from the API server: records the generation each
    has observed, and completes the changes waiting on it."""

    def __init__(self, api):
        self.api = api
        self.lock = threading.Condition()
        self.observed = {}
        self.pending = {}  # key -> (generation, patched at)
        self.done = []  # (patched at, observed at)
        self.stopped = False
        listing = api.call("GET", CLONESETS)
        for item in listing["items"]:
            self._note(item)
        self.version = listing["metadata"]["resourceVersion"]
        threading.Thread(target=self._run, daemon=True).start()

    def _note(self, item):
        key = (item["metadata"]["namespace"], item["metadata"]["name"])
        seen = item.get("status", {}).get("observedGeneration", 0)
        self.observed[key] = seen
        want = self.pending.get(key)
        if want and seen >= want[0]:
            del self.pending[key]
            self.done.append((want[1], time.time()))
            self.lock.notify_all()

    def _run(self):
        while not self.stopped:
            try:
                url = f"{self.api.url}{CLONESETS}?watch=1&allowWatchBookmarks=true&resourceVersion={self.version}"
                with urllib.request.urlopen(url, timeout=600) as stream:
                    for line in stream:
                        event = json.loads(line)
                        if event["type"] == "ERROR":
                            raise RuntimeError(event["object"].get("message"))
                        self.version = event["object"]["metadata"]["resourceVersion"]
                        if event["type"] in ("ADDED", "MODIFIED"):
                            with self.lock:
                                self._note(event["object"])
            except Exception:
                if self.stopped:
                    return
                # Expired or cut: list again and go on from there.
                listing = self.api.call("GET", CLONESETS)
                with self.lock:
                    for item in listing["items"]:
                        self._note(item)
                self.version = listing["metadata"]["resourceVersion"]

    def expect(self, key, generation, patched_at):
        with self.lock:
            if self.observed.get(key, 0) >= generation:
                self.done.append((patched_at, time.time()))
                self.lock.notify_all()
            else:
                self.pending[key] = (generation, patched_at)

    def outstanding(self):
        with self.lock:
            return len(self.pending)

    def wait_below(self, count, timeout):
        deadline = time.time() + timeout
        with self.lock:
            while len(self.pending) >= count:
                left = deadline - time.time()
                if left <= 0:
                    return False
                self.lock.wait(left)
        return True


class Churn:
    """Patches spec.replicas of CloneSets with no change in flight, alternately 3 -> 4 and
    4 -> 3, so every mode sees the same mix of scale-ups and scale-downs and the number of
    objects stays where the seeding left it. One for the whole run: it remembers each
    CloneSet's replicas, so every patch is a real change."""

    def __init__(self, api, keys, seed=1):
        self.api, self.watch = api, None
        self.rng = random.Random(seed)
        self.at = {3: list(keys), 4: []}  # CloneSets by their replicas
        self.lock = threading.Lock()
        self.patching = set()
        self.changes = 0
        self.failures = 0

    def pick(self, replicas):
        """A CloneSet at `replicas` with no change in flight, taken out of its list; None when
        a few tries find none."""
        keys = self.at[replicas]
        for _ in range(20):
            if not keys:
                return None
            index = self.rng.randrange(len(keys))
            key = keys[index]
            if key not in self.patching and key not in self.watch.pending:
                keys[index] = keys[-1]
                keys.pop()
                return key
        return None

    def change(self, scheduled=None):
        """One change; its latency runs from `scheduled` (an open loop's plan) when given, so
        time spent waiting for a free harness thread counts too."""
        with self.lock:
            down = self.changes % 2 == 1
            key = self.pick(4) if down else None
            if key is None:
                down, key = False, self.pick(3)
            if key is None:
                return
            self.changes += 1
            replicas = 3 if down else 4
            self.at[replicas].append(key)
            self.patching.add(key)
        namespace, name = key
        started = scheduled or time.time()
        try:
            patched = self.api.call("PATCH", f"/apis/apps.kruise.io/v1alpha1/namespaces/{namespace}/clonesets/{name}",
                                    {"spec": {"replicas": replicas}}, content_type="application/merge-patch+json")
            self.watch.expect(key, patched["metadata"]["generation"], started)
        except Exception:
            with self.lock:
                self.failures += 1
        finally:
            with self.lock:
                self.patching.discard(key)

    def closed_loop(self, outstanding, seconds):
        """Keeps `outstanding` changes in flight for `seconds`."""
        deadline = time.time() + seconds

        def issuer():
            while time.time() < deadline:
                if self.watch.wait_below(outstanding, timeout=0.5):
                    self.change()
        threads = [threading.Thread(target=issuer) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def open_loop(self, rate, seconds):
        """`rate` changes per second for `seconds`, whatever the mesh does with them."""
        count = int(rate * seconds)
        start = time.time()
        with ThreadPoolExecutor(4) as pool:
            for i in range(count):
                delay = start + i / rate - time.time()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(self.change, start + i / rate)


class Bench:
    def __init__(self, args, workdir):
        from conftest import Proxy, Server, free_port
        from mesh_process import Mesh, MeshProxy, NAMESPACE, pod_manifest, sharding_config
        from operator_process import CLONESET_CRD, Process, node_sim
        self.free_port, self.MeshProxy, self.Process, self.pod_manifest, self.Proxy = free_port, MeshProxy, Process, pod_manifest, Proxy
        self.NAMESPACE = NAMESPACE
        self.args, self.workdir = args, workdir
        self.server = Server(workdir, extra=["--request-latency-ms", str(args.latency_ms), "--watch-history", "200000"]).start()
        self.api = API(self.server.url, timeout=120)
        self.server.kubectl("apply", "-f", CLONESET_CRD)
        self.namespaces = [f"scale-{i:02d}" for i in range(args.namespaces)]
        for ns in self.namespaces:
            self.api.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        self.mesh = Mesh(self.server, workdir, managers=1, config=sharding_config(slots=256))
        self.baseline_rss = {"direct": self.empty_operator_rss(self.server.kubeconfig), "proxy": self.empty_operator_rss(proxied=True)}
        self.nodes = node_sim(self.server.kubeconfig)
        self.next_ordinal = 0
        self.members = []  # the running mode's, stopped by stop() when a mode fails

    def operator(self, kubeconfig, qps, burst, lease=True):
        """A sample operator; every one measured elects a leader, as operators run in production
        (a shard's lock is renamed by its proxy), and all share one identity so that taking
        over the seeded CloneSets needs no write."""
        port = self.free_port()
        args = ["sample-operator", "--kubeconfig", kubeconfig, "--identity", "bench", "--workers", str(self.args.workers),
                "--qps", str(qps), "--burst", str(burst), "--health-listen", f"127.0.0.1:{port}"]
        if lease:
            args += ["--leader-elect", "--leader-election-lease", f"{self.NAMESPACE}/cloneset-operator", "--lease-timings", "6,4,1"]
        return self.Process(args), port

    def empty_operator_rss(self, kubeconfig=None, proxied=False):
        """RSS of an operator whose informers have synced with nothing to cache (straight at
        the API server, or behind a proxy whose shard owns no namespace): what an operator
        costs before its caches, subtracted to give informer memory."""
        proxy = None
        if proxied:
            proxy = self.Proxy(self.workdir, self.server.kubeconfig, name="empty-shard", spec=EMPTY_SHARD).start()
            kubeconfig = proxy.kubeconfig
        op, port = self.operator(kubeconfig, self.args.qps, self.args.burst)
        time.sleep(3)
        rss = rss_mib(op.proc.pid)
        op.stop()
        if proxy:
            proxy.proc.terminate()
            proxy.proc.wait(timeout=15)
        return rss

    def seed(self):
        count = self.args.clonesets
        keys = [(self.namespaces[i % len(self.namespaces)], f"cs-{i:05d}") for i in range(count)]
        started = time.time()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda k: self.api.call("POST", f"/apis/apps.kruise.io/v1alpha1/namespaces/{k[0]}/clonesets", cloneset(*k)), keys))
        created = time.time() - started
        seeder, _ = self.operator(self.server.kubeconfig, 5000, 5000, lease=False)
        self.wait_ready(keys, timeout=self.args.timeout, what="seeding")
        seeder.stop()
        ready = self.seeded_s = time.time() - started
        print(f"seeded {count} CloneSets x 3 pods ({count * 4} objects) in {ready:.0f} s ({created:.0f} s to create the CloneSets; "
              "one unlimited operator reconciled them, node-sim made the pods Ready)", flush=True)
        self.churn = Churn(self.api, keys)
        return keys

    def wait_ready(self, keys, timeout, what):
        deadline = time.time() + timeout
        last = time.time()
        while True:
            items = self.api.call("GET", CLONESETS)["items"]
            ready = sum(1 for c in items if c.get("status", {}).get("observedGeneration") == c["metadata"]["generation"]
                        and c.get("status", {}).get("readyReplicas") == c["spec"]["replicas"])
            if ready == len(keys):
                return
            if time.time() > deadline:
                sys.exit(f"{what}: {ready}/{len(keys)} CloneSets ready after {timeout} s")
            if time.time() - last > 15:
                print(f"  {what}: {ready}/{len(keys)} CloneSets ready", flush=True)
                last = time.time()
            time.sleep(1)

    def start_members(self, shards):
        """`shards` operator pods under the manager (each its own shard); None: one operator
        straight at the API server."""
        if shards is None:
            op, port = self.operator(self.server.kubeconfig, self.args.qps, self.args.burst)
            return [(None, op, port)]
        members = []
        for _ in range(shards):
            pod = f"cloneset-operator-{self.next_ordinal}"
            self.next_ordinal += 1
            self.server.kubectl("apply", "-f", "-", input=self.pod_manifest(pod))
            proxy = self.MeshProxy(self.workdir, self.server.kubeconfig, pod, self.mesh.manager_addresses, lease="6,4,1")
            op, port = self.operator(proxy.kubeconfig, self.args.qps, self.args.burst)
            members.append((proxy, op, port, pod))
        return members

    def stop_members(self, members):
        for member in members:
            member[1].stop()
            if member[0] is not None:
                member[0].process.stop()
                self.server.kubectl("delete", "pod", member[3], "-n", self.NAMESPACE, "--wait=false", check=False)

    def takeover(self, members, started, workload_objects, clonesets):
        """Seconds until the operators' informers hold every object once (the workload's and the
        operator pods themselves), their queues are empty and each has reconciled every CloneSet
        it holds."""
        deadline = started + self.args.timeout
        while time.time() < deadline:
            total_objects = workload_objects + len(self.api.call("GET", f"/api/v1/namespaces/{self.NAMESPACE}/pods")["items"])
            try:
                scraped = [scrape(m[2]) for m in members]
            except (urllib.error.URLError, OSError):
                time.sleep(0.5)
                continue
            cached_sets = [sample(s, "ctrlmesh_informer_cached_objects", "clonesets") for s in scraped]
            cached = [sample(s, "ctrlmesh_informer_cached_objects") for s in scraped]
            reconciled = [sample(s, "controller_runtime_reconcile_total") for s in scraped]
            depth = sum(sample(s, "workqueue_depth") for s in scraped)
            if (sum(cached) == total_objects and sum(cached_sets) == clonesets and depth == 0
                    and all(r >= c for r, c in zip(reconciled, cached_sets))):
                return time.time() - started, cached
            time.sleep(0.25)
        sys.exit(f"takeover did not finish within {self.args.timeout} s")

    def run_mode(self, shards, keys):
        label = "direct" if shards is None else f"{shards} shard{'s' if shards > 1 else ''}"
        pods = [p for p in self.api.call("GET", "/api/v1/pods")["items"] if p["metadata"]["namespace"] != self.NAMESPACE]
        total_objects = len(pods) + len(keys)
        started = time.time()
        members = self.members = self.start_members(shards)
        if shards is not None:
            self.mesh.wait_converged(shards, timeout=120)
        took, cached = self.takeover(members, started, total_objects, len(keys))
        print(f"{label}: took over {total_objects} objects in {took:.1f} s; cached per operator {[int(c) for c in cached]}", flush=True)
        rss_operator = [rss_mib(m[1].proc.pid) for m in members]
        rss_proxy = [rss_mib(m[0].process.proc.pid) for m in members if m[0] is not None]

        watch = CloneSetWatch(self.api)
        churn = self.churn
        churn.watch = watch
        pids = {"operator": [m[1].proc.pid for m in members], "proxy": [m[0].process.proc.pid for m in members if m[0]],
                "apiserver": [self.server.proc.pid], "manager": [p.proc.pid for p in self.mesh.managers],
                "node-sim": [self.nodes.proc.pid]}
        cpu0 = {role: [cpu_seconds(p) for p in ps] for role, ps in pids.items()}
        harness0 = harness_cpu()
        reconciles0 = sum(sample(scrape(m[2]), "controller_runtime_reconcile_total") for m in members)
        requests0 = self.requests()
        busy0 = machine_busy()

        outstanding = OUTSTANDING_PER_SHARD * len(members)
        warmup, window = self.args.warmup, self.args.window
        churn_start = time.time()
        churn.closed_loop(outstanding, warmup + window)
        with watch.lock:
            counted = [d for d in watch.done if churn_start + warmup <= d[1] < churn_start + warmup + window]
        throughput = len(counted) / window
        busy1 = machine_busy()
        if not watch.wait_below(1, timeout=self.args.timeout):
            sys.exit(f"{label}: {watch.outstanding()} changes not observed within {self.args.timeout} s")

        # The capacity phase's last writes (pods turning Ready) drain, and the client's burst
        # refills, before latency is measured: it is the latency of a mesh keeping up.
        self.wait_ready(keys, timeout=self.args.timeout, what=label)
        time.sleep(3)
        with watch.lock:
            latency_from = len(watch.done)
        rate = max(0.5, throughput / 2)
        # Enough changes that the p99 is not just the slowest one.
        churn.open_loop(rate, min(max(self.args.latency_window, LATENCY_SAMPLES / rate), 3 * self.args.latency_window))
        if not watch.wait_below(1, timeout=self.args.timeout):
            sys.exit(f"{label}: {watch.outstanding()} changes not observed within {self.args.timeout} s")
        with watch.lock:
            latencies = [end - begin for begin, end in watch.done[latency_from:]]
            changes = len(watch.done)
        cpu1 = {role: [cpu_seconds(p) for p in ps] for role, ps in pids.items()}
        harness = harness_cpu() - harness0
        scraped = [scrape(m[2]) for m in members]
        reconciles = sum(sample(s, "controller_runtime_reconcile_total") for s in scraped) - reconciles0
        # Since the operators started (takeover included).
        requeues = sum(sample(s, "controller_runtime_reconcile_total", 'result="requeue_after"') for s in scraped)
        errors = sum(sample(s, "controller_runtime_reconcile_errors_total") for s in scraped)
        # What the failed reconciles said (the runtime logs each one), a few of each kind.
        failures = sorted({re.sub(r"\d", "#", line[line.find(" :") + 2:])[:240]
                           for m in members for line in m[1].output() if "reconcile failed" in line})[:8]
        requests = {k: v - requests0.get(k, 0) for k, v in self.requests().items() if v != requests0.get(k, 0)}
        writes = sum(v for k, v in requests.items() if k.startswith(("CREATE pods", "DELETE pods", "PATCH clonesets/status",
                                                                      "UPDATE clonesets/status")))
        watch.stopped = True
        self.wait_ready(keys, timeout=self.args.timeout, what=label)
        self.stop_members(members)
        self.members = []
        if churn.failures:
            sys.exit(f"{label}: {churn.failures} patches failed")

        per_process = {role: [b - a for a, b in zip(cpu0[role], cpu1[role])] for role in cpu0}
        cpu = {role: sum(seconds) for role, seconds in per_process.items()}
        cpu["harness"] = harness
        result = {
            "mode": label, "shards": shards or 0, "objects": total_objects, "takeover_s": took,
            "throughput": throughput, "outstanding": outstanding, "changes": changes,
            "latency_rate": rate, "latency_samples": len(latencies), "latency_p50_ms": percentile(latencies, 50) * 1000,
            "latency_p90_ms": percentile(latencies, 90) * 1000, "latency_p99_ms": percentile(latencies, 99) * 1000,
            "latency_max_ms": max(latencies) * 1000, "latencies_ms": sorted(round(v * 1000, 1) for v in latencies),
            "requeues": requeues, "reconcile_errors": errors, "reconcile_failures_seen": failures,
            "machine_busy": (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]),
            "cached_per_operator": cached, "operator_rss_mib": rss_operator, "proxy_rss_mib": rss_proxy,
            "informer_mib": [r - self.baseline_rss["direct" if shards is None else "proxy"] for r in rss_operator],
            "cpu_s": cpu, "cpu_s_per_process": per_process, "reconciles": reconciles, "writes_per_change": writes / changes if changes else 0,
            # The operators read through their caches; these are the proxies' reads before judged writes.
            "reads_per_change": (requests.get("GET clonesets", 0) + requests.get("GET pods", 0)) / changes if changes else 0,
            "requests": requests,
            "proxy_cpu_ms_per_reconcile": cpu["proxy"] * 1000 / reconciles if reconciles else 0,
        }
        print(f"{label}: {throughput:.1f} changes/s at {outstanding} outstanding; p50 {result['latency_p50_ms']:.0f} ms, "
              f"p99 {result['latency_p99_ms']:.0f} ms at {rate:.1f}/s; machine {result['machine_busy'] * 100:.0f}% busy", flush=True)
        return result

    def requests(self):
        """The API server's request counts, as {"VERB resource[/subresource]": count}."""
        counts = {}
        for (name, labels), value in scrape(self.server.port).items():
            if name == "apiserver_request_total":
                fields = dict(re.findall(r'(\w+)="([^"]*)"', labels))
                key = f"{fields['verb']} {fields['resource']}" + (f"/{fields['subresource']}" if fields["subresource"] else "")
                counts[key] = counts.get(key, 0) + value
        return counts

    def stop(self):
        for member in self.members:
            member[1].stop(sig=9)
            if member[0] is not None:
                member[0].process.stop(sig=9)
        self.mesh.stop()
        self.nodes.stop(sig=9)
        self.server.kill()


def table(results, baseline_rss, sharder):
    base = results[0]
    rows = [f"{'mode':<9} {'objects':>7} {'takeover s':>10} {'changes/s':>9} {'÷ direct':>8} {'÷ N':>5} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} "
            f"{'objects/shard':>13} {'op RSS MiB':>10} {'informer MiB':>12} {'proxy RSS':>9} {'op CPU s':>8} {'proxy CPU s':>11} {'per shard op/proxy':>18} "
            f"{'proxy ms/rec':>12} {'apiserver CPU s':>15} {'writes/chg':>10} {'reads/chg':>9} {'busy':>5} {'harness CPU s':>13}"]
    for r in results:
        n = max(1, r["shards"])
        ratio = r["throughput"] / base["throughput"]
        rows.append(
            f"{r['mode']:<9} {r['objects']:>7} {r['takeover_s']:>10.1f} {r['throughput']:>9.1f} {ratio:>8.2f} {ratio / n:>5.2f} "
            f"{r['latency_p50_ms']:>7.0f} {r['latency_p90_ms']:>7.0f} {r['latency_p99_ms']:>7.0f} {max(r['cached_per_operator']):>13.0f} "
            f"{max(r['operator_rss_mib']):>10.1f} {max(r['informer_mib']):>12.1f} "
            f"{(max(r['proxy_rss_mib']) if r['proxy_rss_mib'] else 0):>9.1f} {r['cpu_s']['operator']:>8.1f} {r['cpu_s']['proxy']:>11.1f} "
            f"{max(r['cpu_s_per_process']['operator']):>9.1f}/{max(r['cpu_s_per_process']['proxy'] or [0]):<8.1f} "
            f"{r['proxy_cpu_ms_per_reconcile']:>12.2f} {r['cpu_s']['apiserver']:>15.1f} {r['writes_per_change']:>10.2f} {r['reads_per_change']:>9.2f} "
            f"{r['machine_busy'] * 100:>4.0f}% {r['cpu_s']['harness']:>13.1f}")
    rows.append(f"(per shard: the largest of the N; informer MiB = operator RSS - that of an operator with empty caches, "
                f"{baseline_rss['direct']:.1f} MiB direct and {baseline_rss['proxy']:.1f} MiB behind a proxy; "
                f"the sharder's published capacity ratio: {sharder[-1][1]:.1f}x at {sharder[-1][0]} instances, about {sharder[-1][1] / sharder[-1][0]:.1f}·N)")
    targets = []
    for r in results[1:]:
        n = r["shards"]
        if n >= 2:
            ratio = r["throughput"] / base["throughput"]
            memory = max(r["informer_mib"]) / max(base["informer_mib"])
            targets.append(f"N={n}: throughput {ratio:.2f}x direct (target >= {0.9 * n:.1f}: {'met' if ratio >= 0.9 * n else 'MISSED'}); "
                           f"informer memory per shard {memory:.3f} of direct (target <= {1.1 / n:.3f}: {'met' if memory <= 1.1 / n else 'MISSED'})")
    return "\n".join(rows + targets)


# The sharder's published capacity (timebertt/kubernetes-controller-sharding, as quoted in
# issue 17 and ../shared/docs/anchors.md): objects kept within its SLOs by 1 and 5 instances,
# 2,504 and 7,462, as ratios to one instance. A capacity, not a rate: drawn for scale only.
SHARDER = [(1, 1.0), (5, 7462 / 2504)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ctrlmesh", default=os.path.join(ROOT, ".build", "release", "ctrlmesh"))
    parser.add_argument("--clonesets", type=int, default=10000)
    parser.add_argument("--namespaces", type=int, default=100)
    parser.add_argument("--shards", default="1,2,4,8", help="shard counts to run after the direct baseline")
    parser.add_argument("--workers", type=int, default=4, help="reconcile workers per operator")
    parser.add_argument("--qps", type=float, default=20, help="each operator's client limit (controller-runtime's default)")
    parser.add_argument("--burst", type=int, default=30)
    parser.add_argument("--latency-ms", type=float, default=3, help="the API server's emulated round trip")
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--window", type=float, default=30, help="seconds of the capacity measurement")
    parser.add_argument("--latency-window", type=float, default=20, help="seconds of the latency measurement")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    if not os.path.exists(args.ctrlmesh):
        sys.exit(f"no ctrlmesh binary at {args.ctrlmesh}")
    os.environ["CTRLMESH_BIN"] = os.path.abspath(args.ctrlmesh)
    shard_counts = [int(s) for s in args.shards.split(",") if s]
    print(f"scale-out: {args.clonesets} CloneSets x 3 pods in {args.namespaces} namespaces; API server latency {args.latency_ms} ms; "
          f"each operator QPS {args.qps:g}, burst {args.burst}, {args.workers} workers; modes: direct, then {shard_counts} shards; "
          f"{os.cpu_count()} cores shared by every process", flush=True)
    bench = Bench(args, tempfile.mkdtemp(prefix="ctrlmesh-scale-bench-"))
    try:
        keys = bench.seed()
        results = [bench.run_mode(None, keys)] + [bench.run_mode(n, keys) for n in shard_counts]
    finally:
        bench.stop()
    print()
    print(table(results, bench.baseline_rss, SHARDER))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "seeded_s": bench.seeded_s, "baseline_rss_mib": bench.baseline_rss, "sharder": SHARDER, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
