#!/usr/bin/env python3
"""The chaos soak: the mesh as real processes, put through seeded fault cycles, audited
independently of the product's own audit.

The mesh: the embedded API server (`--data-dir`, so it can be killed -9 and restarted), two
managers, four operator pods (each a Pod object, a `ctrlmesh proxy --manager` proving its pod
with a bound token, and an unchanged `ctrlmesh sample-operator` behind it), node-sim, 60
CloneSets in 6 namespaces, and a churn thread patching CloneSets every 0.2 s while a fault is
on.

Each cycle injects one fault, ends it, and measures how long the mesh takes to converge again
(the ShardingConfig Ready with every member Ready, and every CloneSet reconciled to its spec).
Fault types: SIGKILL of a proxy, an operator, a whole pod, the leading manager, or the API
server (kill -9, restarted on its data directory); SIGSTOP of a proxy (its session left open)
or of the leading manager; a partition (a proxy frozen and its manager connections cut with
`ss -K`); scale out and in.

The audit reads every write the API server recorded as stamped by a proxy
(`/debug/ctrlmesh/writes`) and checks, per object key (the controller owner's uid, else the
object's), that the writes never go back to an earlier epoch of another shard: no key is ever
written by a shard after a shard granted it later has written it. Writes lost: every churn
patch the API server acknowledged must still be there afterwards.

Prints, per fault type: cycles, violations, convergence p50/p99, writes lost, and the evidence
of writes in flight (admitted writes the proxies aborted, stamped writes the fence refused).
Exit status 0 only with no violation, no lost write and every cycle converged.
"""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "interop"))

from conftest import Server, metric  # noqa: E402
from mesh_process import CONFIG, NAMESPACE, Mesh, MeshProxy, owner_of, pod_manifest, sharding_config  # noqa: E402
from operator_process import CLONESET_CRD, node_sim, operator  # noqa: E402
from test_operator import cloneset  # noqa: E402

LEASE = 3  # member lease duration (seconds): --member-lease 3,2,1
FAULTS = ["kill-proxy", "kill-operator", "kill-pod", "pause-proxy", "partition", "kill-manager", "pause-manager",
          "kill-apiserver", "scale"]
# Weights: pauses and partitions are the faults that once broke the guarantee.
WEIGHTS = {"kill-proxy": 1, "kill-operator": 1, "kill-pod": 1, "pause-proxy": 2, "partition": 2, "kill-manager": 1,
           "pause-manager": 1, "kill-apiserver": 1, "scale": 1}


def log(*parts):
    print(time.strftime("%H:%M:%S"), *parts, flush=True)


def percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Audit:
    """Every stamped write seen so far, keyed by resourceVersion (the API server's record is in
    memory: it is read before the server is killed, and kept here)."""

    def __init__(self):
        self.writes = {}

    def read(self, url):
        with urllib.request.urlopen(f"{url}/debug/ctrlmesh/writes", timeout=30) as r:
            for w in json.loads(r.read())["items"]:
                self.writes[int(w["resourceVersion"])] = w

    def violations(self):
        """Per key, in commit order: a write by one shard at an epoch no later than the highest
        epoch another shard already wrote the key at."""
        by_key = {}
        for rv in sorted(self.writes):
            w = self.writes[rv]
            if (w["group"], w["resource"]) not in (("apps.kruise.io", "clonesets"), ("", "pods")):
                continue
            by_key.setdefault(w.get("controllerUID") or w["uid"], []).append(w)
        found = []
        for key, writes in by_key.items():
            highest = {}  # shard -> highest epoch it wrote the key at so far
            for w in writes:
                others = [(s, e) for s, e in highest.items() if s != w["shard"] and e >= w["epoch"]]
                if others:
                    found.append(f"{key}: {w['shard']}@{w['epoch']} ({w['type']} {w['namespace']}/{w['name']} rv {w['resourceVersion']}) "
                                 f"after {others[0][0]}@{others[0][1]}")
                highest[w["shard"]] = max(highest.get(w["shard"], 0), w["epoch"])
        return found


class Churn:
    """Patches CloneSets every 0.2 s (replicas and a sequence label) straight to the API server,
    remembering the last sequence number each one was acknowledged with."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.acked = {}
        self.seq = 0
        self.running = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        rng = random.Random(7)
        while True:
            self.running.wait()
            ns, name = rng.choice(self.cluster.clonesets)
            self.seq += 1
            body = json.dumps({"metadata": {"labels": {"chaos-seq": str(self.seq)}}, "spec": {"replicas": rng.randint(1, 3)}}).encode()
            request = urllib.request.Request(f"{self.cluster.server.url}/apis/apps.kruise.io/v1alpha1/namespaces/{ns}/clonesets/{name}",
                                             data=body, method="PATCH", headers={"Content-Type": "application/merge-patch+json"})
            try:
                with urllib.request.urlopen(request, timeout=5) as r:
                    if r.status == 200:
                        self.acked[(ns, name)] = self.seq
            except Exception:
                pass  # the API server may be down: an unacknowledged patch promises nothing
            time.sleep(0.2)

    def lost(self, items):
        """Acknowledged patches the CloneSets no longer carry (a later one may have replaced it)."""
        seen = {(cs["metadata"]["namespace"], cs["metadata"]["name"]): int(cs["metadata"].get("labels", {}).get("chaos-seq", 0))
                for cs in items}
        return [(key, seq, seen.get(key)) for key, seq in self.acked.items() if seen.get(key, 0) < seq]


class Cluster:
    def __init__(self, workdir, rng):
        self.workdir, self.rng = workdir, rng
        self.server = Server(workdir, data_dir=os.path.join(workdir, "data"), extra=["--bookmark-interval", "1"]).start()
        self.server.kubectl("apply", "-f", CLONESET_CRD)
        self.namespaces = [f"chaos-{i}" for i in range(6)]
        for ns in self.namespaces:
            self.server.kubectl("create", "namespace", ns)
        self.mesh = Mesh(self.server, workdir, managers=2, config=sharding_config(slots=64))
        self.nodes = node_sim(self.server.kubeconfig)
        self.ports = {}
        for ordinal in range(4):
            self.start_member(ordinal)
        self.clonesets = [(ns, f"cs-{i}") for ns in self.namespaces for i in range(10)]
        manifests = [cloneset(name, ns, 1 + i % 3) for i, (ns, name) in enumerate(self.clonesets)]
        self.server.kubectl("apply", "-f", "-", input="---\n".join(manifests))
        self.audit = Audit()
        self.restarts = 0
        # (writes in flight across the last pause, of which landed)
        self.in_flight = (0, 0)

    # Members

    def pod(self, ordinal):
        return f"cloneset-operator-{ordinal}"

    def start_member(self, ordinal, restart_proxy_only=False):
        pod = self.pod(ordinal)
        if not restart_proxy_only:
            self.server.kubectl("apply", "-f", "-", input=pod_manifest(pod))
        proxy = MeshProxy(self.workdir, self.server.kubeconfig, pod, self.mesh.manager_addresses, lease=f"{LEASE},2,1",
                          ports=self.ports.get(ordinal))
        self.ports[ordinal] = (proxy.port, proxy.admin_port)
        if restart_proxy_only:
            self.mesh.members[ordinal] = (proxy, self.mesh.members[ordinal][1])
        else:
            op = operator(proxy.kubeconfig, pod, leader_elect=True, lease=f"{NAMESPACE}/cloneset-operator", timings="3,2,0.5")
            self.mesh.members[ordinal] = (proxy, op)
            self.mesh.pods[ordinal] = pod

    def restart_operator(self, ordinal):
        proxy, _ = self.mesh.members[ordinal]
        op = operator(proxy.kubeconfig, self.pod(ordinal), leader_elect=True, lease=f"{NAMESPACE}/cloneset-operator", timings="3,2,0.5")
        self.mesh.members[ordinal] = (proxy, op)

    def kubelet(self):
        """Restarts what exited on its own, as the kubelet would (an operator that lost its
        leadership exits, like a controller-runtime manager). Returns how many it restarted."""
        restarted = 0
        for ordinal, (proxy, op) in list(self.mesh.members.items()):
            if proxy.process.proc.poll() is not None:
                self.start_member(ordinal, restart_proxy_only=True)
                restarted += 1
            if op.proc.poll() is not None:
                self.restart_operator(ordinal)
                restarted += 1
        return restarted

    def leader_index(self):
        holder = self.mesh.leader()
        return int(holder.rsplit("-", 1)[1])

    # Observing

    def clonesets_json(self):
        return json.loads(self.server.kubectl("get", "clonesets", "-A", "-o", "json", timeout=30).stdout)["items"]

    def unconverged(self):
        """Why the mesh has not converged, or None when it has."""
        status = self.mesh.config().get("status", {})
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", []))
        members = {m["pod"]: m["state"] for s in status.get("shards", []) for m in s.get("members", [])}
        live = {self.mesh.pods[o] for o in self.mesh.members}
        if not ready or set(members) != live or any(state != "Ready" for state in members.values()):
            return f"ready={ready} members={members} live={sorted(live)}"
        for cs in self.clonesets_json():
            st = cs.get("status", {})
            if st.get("observedGeneration") != cs["metadata"]["generation"] or st.get("readyReplicas") != cs["spec"]["replicas"]:
                return f"CloneSet {cs['metadata']['namespace']}/{cs['metadata']['name']} status {st} generation {cs['metadata']['generation']}"
        return None

    def wait_converged(self, timeout=120):
        start, why = time.time(), None
        while time.time() - start < timeout:
            try:
                self.restarts += self.kubelet()
                why = self.unconverged()
                if why is None:
                    return time.time() - start
            except Exception as error:
                why = f"{error}"
            time.sleep(0.2)
        log(f"  not converged after {timeout} s: {why}")
        return None

    def in_flight_evidence(self):
        """Admitted writes the proxies aborted plus stamped writes the API server's fence refused."""
        total = 0
        for proxy, _ in self.mesh.members.values():
            try:
                total += metric(proxy.admin_port, "ctrlmesh_proxy_writes_aborted_total") or 0
            except Exception:
                pass
        try:
            total += metric(self.server.port, "ctrlmesh_apiserver_mesh_fence_refusals_total") or 0
        except Exception:
            pass
        return total

    def stop(self):
        self.mesh.stop()
        self.nodes.stop(sig=9)
        self.server.kill()


class InFlightWrites:
    """Writes sent through one proxy, as its operator would send them, by four threads from just
    before the proxy is frozen until after it resumes: the ones sent before it resumed and
    answered after are the writes in flight across the pause. Each patches a CloneSet the
    proxy's shard owned when the cycle began."""

    def __init__(self, cluster, ordinal):
        self.stop = threading.Event()
        self.records = []
        self.lock = threading.Lock()
        status = cluster.mesh.config().get("status", {})
        pod = cluster.mesh.pods[ordinal]
        owned = [(cs["metadata"]["namespace"], cs["metadata"]["name"]) for cs in cluster.clonesets_json()
                 if pod in owner_of(status, cs["metadata"]["uid"])[1]]
        self.port = cluster.mesh.members[ordinal][0].port
        self.threads = [threading.Thread(target=self.run, args=(owned, i), daemon=True) for i in range(4)] if owned else []
        for thread in self.threads:
            thread.start()

    def run(self, owned, index):
        n = 0
        while not self.stop.is_set():
            ns, name = owned[(index + n) % len(owned)]
            n += 1
            body = json.dumps({"metadata": {"labels": {"in-flight": f"{index}-{n}"}}}).encode()
            request = urllib.request.Request(f"http://127.0.0.1:{self.port}/apis/apps.kruise.io/v1alpha1/namespaces/{ns}/clonesets/{name}",
                                             data=body, method="PATCH", headers={"Content-Type": "application/merge-patch+json"})
            sent = time.time()
            try:
                with urllib.request.urlopen(request, timeout=30) as r:
                    code = r.status
            except urllib.error.HTTPError as e:
                code = e.code
            except Exception:
                code = None
            with self.lock:
                self.records.append((sent, time.time(), code))

    def finish(self, resumed_at):
        """Stops the writers; returns (writes in flight across the pause, of which landed)."""
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=40)
        across = [r for r in self.records if r[0] < resumed_at <= r[1]]
        return len(across), sum(1 for r in across if r[2] == 200)


def cut_connections(pid, ports):
    """Kills the TCP connections a process holds to the given ports (`ss -K`), as a partition does."""
    for port in ports:
        subprocess.run(["ss", "-K", "dst", "127.0.0.1", "dport", "=", str(port)], capture_output=True)


def run_fault(cluster, kind, rng, hold):
    """Injects one fault; returns when the fault has ended (processes resumed or restarted)."""
    members = sorted(cluster.mesh.members)
    ordinal = rng.choice(members)
    proxy, op = cluster.mesh.members[ordinal]
    if kind == "kill-proxy":
        proxy.process.stop(sig=9)
        time.sleep(hold)
        cluster.start_member(ordinal, restart_proxy_only=True)
    elif kind == "kill-operator":
        op.stop(sig=9)
        time.sleep(hold)
        cluster.restart_operator(ordinal)
    elif kind == "kill-pod":
        op.stop(sig=9)
        proxy.process.stop(sig=9)
        time.sleep(hold)
        cluster.start_member(ordinal, restart_proxy_only=True)
        cluster.restart_operator(ordinal)
    elif kind in ("pause-proxy", "partition"):
        writes = InFlightWrites(cluster, ordinal)
        time.sleep(0.3)
        os.kill(proxy.process.proc.pid, signal.SIGSTOP)
        if kind == "partition":
            time.sleep(0.3)
            cut_connections(proxy.process.proc.pid, cluster.mesh.manager_ports)
        time.sleep(hold)
        os.kill(proxy.process.proc.pid, signal.SIGCONT)
        resumed = time.time()
        time.sleep(1)
        cluster.in_flight = writes.finish(resumed)
    elif kind in ("kill-manager", "pause-manager"):
        index = cluster.leader_index()
        manager = cluster.mesh.managers[index]
        if kind == "kill-manager":
            manager.stop(sig=9)
            time.sleep(hold)
            cluster.mesh.managers[index] = cluster.mesh.start_manager(index)
        else:
            os.kill(manager.proc.pid, signal.SIGSTOP)
            time.sleep(hold)
            os.kill(manager.proc.pid, signal.SIGCONT)
    elif kind == "kill-apiserver":
        cluster.audit.read(cluster.server.url)
        cluster.server.kill(sig=9)
        time.sleep(min(hold, 3))
        cluster.server.start()
    elif kind == "scale":
        extra = max(members) + 1
        cluster.start_member(extra)
        if cluster.wait_converged(timeout=60) is None:
            log("  scale out did not converge within 60 s")
        proxy, op = cluster.mesh.members.pop(extra)
        cluster.mesh.pods.pop(extra)
        op.stop(sig=15)
        proxy.process.stop(sig=15)
        cluster.server.kubectl("delete", "pod", cluster.pod(extra), "-n", NAMESPACE, check=False)
        cluster.ports.pop(extra, None)
    return ordinal


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hold", default="5,10", help="seconds a fault lasts: min,max")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    if not os.environ.get("CTRLMESH_BIN"):
        sys.exit("set CTRLMESH_BIN to the ctrlmesh binary")
    if shutil.which("ss") is None:
        sys.exit("the chaos soak needs ss (iproute2) to cut connections")
    low, high = (float(x) for x in args.hold.split(","))
    rng = random.Random(args.seed)
    # Every type at least once, pauses and partitions most, in a seeded order.
    kinds = [k for k in FAULTS for _ in range(WEIGHTS[k])]
    plan = (FAULTS + [rng.choice(kinds) for _ in range(max(0, args.cycles - len(FAULTS)))])[:args.cycles]
    rng.shuffle(plan)
    workdir = tempfile.mkdtemp(prefix="ctrlmesh-chaos-")
    log(f"chaos soak: {args.cycles} cycles, seed {args.seed}, faults held {low:g}-{high:g} s, in {workdir}")
    cluster = Cluster(workdir, rng)
    churn = Churn(cluster)
    results = {k: {"cycles": 0, "violations": 0, "convergence": [], "unconverged": 0, "in_flight": 0, "cycles_with_in_flight": 0}
               for k in FAULTS}
    lost_total = []
    started = time.time()
    try:
        first = cluster.wait_converged(timeout=180)
        if first is None:
            sys.exit("the mesh never converged before the first fault")
        log(f"mesh converged in {first:.1f} s: 4 shards, {len(cluster.clonesets)} CloneSets")
        seen_violations = 0
        for cycle, kind in enumerate(plan, 1):
            before = cluster.in_flight_evidence()
            cluster.in_flight = (0, 0)
            churn.running.set()
            time.sleep(rng.uniform(0.5, 1.5))  # writes in flight when the fault strikes
            hold = rng.uniform(low, high)
            ordinal = run_fault(cluster, kind, rng, hold)
            churn.running.clear()
            took = cluster.wait_converged()
            cluster.audit.read(cluster.server.url)
            violations = cluster.audit.violations()
            new = violations[seen_violations:]
            seen_violations = len(violations)
            evidence = max(0, cluster.in_flight_evidence() - before)
            across, landed = cluster.in_flight
            r = results[kind]
            r["cycles"] += 1
            r["violations"] += len(new)
            r["in_flight"] += across
            r["in_flight_landed"] = r.get("in_flight_landed", 0) + landed
            r["aborted_or_refused"] = r.get("aborted_or_refused", 0) + evidence
            r["cycles_with_in_flight"] += 1 if across else 0
            if took is None:
                r["unconverged"] += 1
            else:
                r["convergence"].append(took)
            flight = f", {across} writes in flight across the pause ({landed} landed)" if kind in ("pause-proxy", "partition") else ""
            log(f"cycle {cycle}/{len(plan)} {kind} (member {ordinal}, held {hold:.1f} s): "
                f"{'converged in %.1f s' % took if took is not None else 'NOT CONVERGED'}, {len(new)} violations, "
                f"{evidence:.0f} writes aborted in proxies or refused by the fence{flight}")
            for v in new[:5]:
                log("  VIOLATION", v)
        lost_total = churn.lost(cluster.clonesets_json())
    finally:
        churn.running.clear()
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(f"{'fault':<16}{'cycles':>7}{'violations':>11}{'conv p50 s':>11}{'conv p99 s':>11}{'unconverged':>12}"
          f"{'cycles w/ writes in flight':>28}{'aborted/refused':>17}")
    total = {"cycles": 0, "violations": 0, "unconverged": 0}
    for kind in FAULTS:
        r = results[kind]
        p50, p99 = percentile(r["convergence"], 50), percentile(r["convergence"], 99)
        print(f"{kind:<16}{r['cycles']:>7}{r['violations']:>11}{(p50 or 0):>11.1f}{(p99 or 0):>11.1f}{r['unconverged']:>12}"
              f"{r['cycles_with_in_flight']:>18}/{r['cycles']:<3} ({r['in_flight']} writes){r.get('aborted_or_refused', 0):>8.0f}")
        for field in total:
            total[field] += r[field]
    every = [t for r in results.values() for t in r["convergence"]]
    print(f"{'all':<16}{total['cycles']:>7}{total['violations']:>11}{(percentile(every, 50) or 0):>11.1f}"
          f"{(percentile(every, 99) or 0):>11.1f}{total['unconverged']:>12}")
    print(f"operators and proxies restarted after exiting on their own: {cluster.restarts}")
    print(f"writes lost: {len(lost_total)} of {len(churn.acked)} CloneSets' last acknowledged patches; "
          f"stamped writes audited: {len(cluster.audit.writes)}; target convergence p99 <= {2 * LEASE} s (2 member leases); "
          f"{time.time() - started:.0f} s")
    for item in lost_total[:5]:
        print("  LOST", item)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"seed": args.seed, "cycles": args.cycles, "results": results, "lost": len(lost_total),
                       "audited": len(cluster.audit.writes)}, f, indent=1)
    ok = total["violations"] == 0 and not lost_total and total["unconverged"] == 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
