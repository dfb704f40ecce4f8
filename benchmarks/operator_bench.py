#!/usr/bin/env python3
"""Operator benchmark (issue 3), release builds, everything on this machine:

  1. Reconcile throughput of the sample CloneSet operator: 1,000 CloneSets x 3 pods created at
     once on `ctrlmesh apiserver`, timed until every pod exists and until every CloneSet reports
     3 ready replicas (a `ctrlmesh node-sim` process plays the kubelet). Side by side in one run:
     one operator talking to the API server directly, the same operator through a `ctrlmesh
     proxy` whose spec owns everything, and two operators as two shards behind two proxies
     (namespace split). Peak RSS and CPU seconds of the operator processes.
  2. Informer memory: an informer caching 10,000 pods (`ctrlmesh-bench informer-memory`),
     RSS over a warm baseline against the JSON size of the cached objects; the same objects held
     as parsed trees beside it.

`make bench-operator` runs it.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from harness import API, cloneset, cpu_seconds, free_port, proc_status, start

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRD = os.path.join(ROOT, "manifests", "samples", "cloneset-crd.yaml")
NAMESPACES = [f"bench-{i}" for i in range(10)]


def stop(*procs):
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


def start_apiserver(ctrlmesh, workdir):
    kubeconfig = os.path.join(workdir, "apiserver.kubeconfig")
    port = free_port()
    proc = start([ctrlmesh, "apiserver", "--listen", f"127.0.0.1:{port}", "--kubeconfig-out", kubeconfig,
                  "--watch-history", "100000"], "ready")
    return proc, API(f"http://127.0.0.1:{port}"), kubeconfig


def shard_spec(shard, namespaces):
    return (f"shard: {shard}\nepoch: 1\nresources:\n"
            "- {apiGroups: [apps.kruise.io], resources: [clonesets], key: namespace}\n"
            "- {apiGroups: [\"\"], resources: [pods], key: namespace}\n"
            f"owned:\n  namespaces: [{', '.join(namespaces)}]\n"
            "leaderElection: {resource: leases, namespace: default, name: bench-operator}\n")


def throughput(args, mode, workdir):
    """Creates the CloneSets and times the operator(s) of `mode` until pods exist and are ready."""
    run_dir = os.path.join(workdir, mode)
    os.makedirs(run_dir)
    server, api, kubeconfig = start_apiserver(args.ctrlmesh, run_dir)
    subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "apply", "-f", CRD], check=True, capture_output=True)
    for ns in NAMESPACES:
        api.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    extra = []
    if mode == "direct":
        shards = [("all", kubeconfig)]
    else:
        split = {"via-proxy": [("all", NAMESPACES)], "2 shards": [("a", NAMESPACES[:5]), ("b", NAMESPACES[5:])]}[mode]
        shards = []
        for shard, owned in split:
            spec = os.path.join(run_dir, f"{shard}.yaml")
            with open(spec, "w") as f:
                f.write(shard_spec(shard, owned))
            proxy_kubeconfig = os.path.join(run_dir, f"{shard}.kubeconfig")
            extra.append(start([args.ctrlmesh, "proxy", "--listen", f"127.0.0.1:{free_port()}", "--kubeconfig", kubeconfig,
                                "--spec-file", spec, "--kubeconfig-out", proxy_kubeconfig], "ready"))
            shards.append((shard, proxy_kubeconfig))
    nodes = start([args.ctrlmesh, "node-sim", "--kubeconfig", kubeconfig], "started")
    operators = [start([args.ctrlmesh, "sample-operator", "--kubeconfig", kc, "--identity", f"bench-{shard}",
                        "--workers", str(args.workers), "--qps", "2000"], "started") for shard, kc in shards]
    time.sleep(1)

    names = [(ns, f"cs-{i}") for i in range(args.clonesets) for ns in [NAMESPACES[i % len(NAMESPACES)]]]
    started = time.time()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda n: api.call("POST", f"/apis/apps.kruise.io/v1alpha1/namespaces/{n[0]}/clonesets", cloneset(*n)), names))
    created_at = time.time()
    pods_at = ready_at = None
    want = args.clonesets * 3
    while time.time() - started < args.timeout:
        if pods_at is None and len(api.call("GET", "/api/v1/pods")["items"]) >= want:
            pods_at = time.time()
        if pods_at is not None:
            items = api.call("GET", "/apis/apps.kruise.io/v1alpha1/clonesets")["items"]
            if sum(1 for c in items if c.get("status", {}).get("readyReplicas") == 3) == args.clonesets:
                ready_at = time.time()
                break
        time.sleep(0.25)
    figures = [(cpu_seconds(p.pid), proc_status(p.pid, "VmHWM")) for p in operators]
    stop(*operators, nodes, *extra, server)
    if ready_at is None:
        sys.exit(f"{mode}: CloneSets not ready within {args.timeout}s")
    objects = args.clonesets + want
    return {"mode": mode, "create_s": created_at - started, "pods_s": pods_at - started, "ready_s": ready_at - started,
            "objects_per_s": objects / (ready_at - started), "cpu_s": sum(c for c, _ in figures),
            "rss_mib": max(r for _, r in figures), "operators": len(operators)}


def informer_memory(args, workdir):
    run_dir = os.path.join(workdir, "memory")
    os.makedirs(run_dir)
    server, api, kubeconfig = start_apiserver(args.ctrlmesh, run_dir)
    api.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mem"}})
    # A live owner: the API server's garbage collector deletes pods whose owner does not exist.
    owner = api.call("POST", "/api/v1/namespaces/mem/configmaps",
                     {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web"}})["metadata"]["uid"]

    def pod(i):
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": f"web-{i:05d}", "namespace": "mem",
                             "labels": {"app": "web", "controller-revision-hash": "web-7f662c90892388d4", "tier": "frontend"},
                             "annotations": {"sample.ctrlmesh.io/imageless-revision": "94e46a43ca7e057d"},
                             "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "web",
                                                  "uid": owner, "controller": True,
                                                  "blockOwnerDeletion": True}]},
                "spec": {"containers": [{"name": "main", "image": "nginx:1.27", "ports": [{"containerPort": 80, "protocol": "TCP"}],
                                         "env": [{"name": "MODE", "value": "production"}, {"name": "SHARD", "value": str(i % 7)}],
                                         "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                                       "limits": {"cpu": "500m", "memory": "256Mi"}},
                                         "volumeMounts": [{"name": "config", "mountPath": "/etc/web"}]}],
                         "volumes": [{"name": "config", "configMap": {"name": "web-config"}}],
                         "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst"}}
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: api.call("POST", "/api/v1/namespaces/mem/pods", pod(i)), range(args.cached)))
    out = subprocess.run([args.bench, "informer-memory", "--kubeconfig", kubeconfig, "--resource", "/v1/pods"],
                         capture_output=True, text=True, timeout=300)
    stop(server)
    if out.returncode != 0:
        sys.exit(f"informer-memory failed:\n{out.stdout}{out.stderr}")
    return out.stdout


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ctrlmesh", default=os.path.join(ROOT, ".build", "release", "ctrlmesh"))
    parser.add_argument("--bench", default=os.path.join(ROOT, ".build", "release", "ctrlmesh-bench"))
    parser.add_argument("--clonesets", type=int, default=1000)
    parser.add_argument("--cached", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--memory-only", action="store_true", help="only the informer memory measurement")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="ctrlmesh-operator-bench-")

    print(f"sample CloneSet operator: {args.clonesets} CloneSets x 3 pods across {len(NAMESPACES)} namespaces, "
          f"{args.workers} workers per operator, node-sim marking pods ready; 2 cores shared by everything")
    modes = [] if args.memory_only else ["direct", "via-proxy", "2 shards"]
    results = [throughput(args, mode, workdir) for mode in modes]
    if not results:
        print(informer_memory(args, workdir), end="")
        return
    base = results[0]
    print(f"{'mode':<10} {'creates s':>9} {'pods s':>7} {'ready s':>8} {'objects/s':>10} {'vs direct':>9} "
          f"{'op CPU s':>9} {'op peak RSS MiB':>16}")
    for r in results:
        print(f"{r['mode']:<10} {r['create_s']:>9.1f} {r['pods_s']:>7.1f} {r['ready_s']:>8.1f} {r['objects_per_s']:>10.0f} "
              f"{r['objects_per_s'] / base['objects_per_s']:>9.2f} {r['cpu_s']:>9.1f} {r['rss_mib']:>16.1f}"
              + (f"  (max of {r['operators']})" if r["operators"] > 1 else ""))
    print()
    print(informer_memory(args, workdir), end="")


if __name__ == "__main__":
    main()
