#!/usr/bin/env python3
"""Policy overhead benchmark (`make bench-policies`): what 50 fault and breaker rules that are
loaded but match nothing add to the proxy's passthrough.

One `ctrlmesh apiserver`, one `ctrlmesh manager` and two `ctrlmesh proxy --manager` side by
side, members of the same ShardingConfig. A FaultInjection (25 rules) and a CircuitBreaker (25
rate-limit rules) select only the first proxy's pod; the rules match on resources, namespace and
name globs, label selectors and HTTP path regexes, none of which a GET of a ConfigMap meets.
wrk drives the same GET through each proxy in alternating, back-to-back rounds, first while the
policies select no pod (the A/A control: what differs between the two processes alone), then
with the 50 rules on the first proxy; printed: req/s and p50/p99 per proxy (medians over the
rounds) and the median of the per-round ratios first/second, against the target of at most 5%
added latency. Then `ctrlmesh-bench
policy-match` times the policy step alone on the same rules: nanoseconds of CPU per request,
indexed as the proxy runs it and matching every rule, which the machine's noise cannot hide.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from harness import free_port, start, wait_port
from proxy_bench import wrk

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMESPACE = "ctrlmesh-system"


def kubectl(kubeconfig, *args, input=None):
    subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], input=input, text=True, check=True, capture_output=True)


def rules(selected="yes"):
    faults, limits = [], []
    for i in range(25):
        match = ({"resources": [{"verbs": ["create", "delete"], "apiGroups": ["apps"], "resources": [f"deployments-{i}"],
                                 "namespaces": [f"team-{i}-*"]}]} if i % 3 == 0 else
                 {"resources": [{"resources": ["configmaps"], "names": [f"never-{i}-*"], "namespaces": ["prod-*"]}]} if i % 3 == 1 else
                 {"httpMatch": [{"method": "POST", "path": {"regex": f"^/apis/never{i}\\.example\\.com/"}}]})
        faults.append({"name": f"fault-{i}", "match": match, "abort": {"httpStatus": 500, "percent": 50}})
        limits.append({"name": f"limit-{i}", "scope": "Pod", "bucket": {"limit": 10, "interval": "1s"},
                       "match": {"resources": [{"verbs": ["update"], "resources": [f"widgets-{i}"],
                                                "labelSelector": {"matchLabels": {"tier": f"t{i}"}}}]}})
    selector = {"matchLabels": {"app": "op", "policies": selected}}
    return [
        {"apiVersion": "ctrlmesh.kruise.io/v1alpha1", "kind": "FaultInjection", "metadata": {"name": "bench-faults", "namespace": NAMESPACE},
         "spec": {"selector": selector, "httpFault": faults}},
        {"apiVersion": "ctrlmesh.kruise.io/v1alpha1", "kind": "CircuitBreaker", "metadata": {"name": "bench-limits", "namespace": NAMESPACE},
         "spec": {"selector": selector, "rateLimitings": limits}},
    ]


def metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


def status(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=10) as r:
        return json.loads(r.read())


def compare(proxies, connections, args, title):
    """Medians of per-round ratios first/second proxy: each round runs both back to back, so the
    machine's drift cancels."""
    samples = {"yes": [], "no": []}
    ratios = []
    for round_index in range(args.rounds):
        pair = {}
        for label in (("no", "yes") if round_index % 2 == 0 else ("yes", "no")):
            url = f"http://127.0.0.1:{proxies[label][0]}/api/v1/namespaces/default/configmaps/bench"
            pair[label] = wrk(url, connections, args.duration)
            samples[label].append(pair[label])
        ratios.append(tuple(pair["yes"][k] / pair["no"][k] for k in range(3)))
    print(f"c={connections} {title}:")
    for label, name in (("yes", "first "), ("no", "second")):
        rps, p50, p99 = (statistics.median(s[k] for s in samples[label]) for k in range(3))
        print(f"  {name}: {rps:8.0f} req/s  p50 {p50:.3f} ms  p99 {p99:.3f} ms  (medians of {args.rounds})")
    rps_ratio, p50_ratio, p99_ratio = (statistics.median(r[k] for r in ratios) for k in range(3))
    print(f"  first/second, median of {args.rounds} pairs: p50 {p50_ratio:.3f}  p99 {p99_ratio:.3f}  req/s {rps_ratio:.3f}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ctrlmesh", required=True)
    parser.add_argument("--bench", required=True)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--duration", type=int, default=5)
    args = parser.parse_args()
    procs = []
    work = tempfile.mkdtemp(prefix="ctrlmesh-policy-bench-")
    try:
        kc = os.path.join(work, "kubeconfig")
        api_port = free_port()
        procs.append(start([args.ctrlmesh, "apiserver", "--listen", f"127.0.0.1:{api_port}", "--kubeconfig-out", kc], ready="ready"))
        for crd in ("shardingconfigs", "faultinjections", "circuitbreakers"):
            kubectl(kc, "apply", "-f", os.path.join(ROOT, "manifests", "crds", f"ctrlmesh.kruise.io_{crd}.yaml"))
        kubectl(kc, "create", "namespace", NAMESPACE)
        kubectl(kc, "create", "configmap", "bench", "-n", "default", "--from-literal=key=value")
        kubectl(kc, "apply", "-f", "-", input=json.dumps({
            "apiVersion": "ctrlmesh.kruise.io/v1alpha1", "kind": "ShardingConfig", "metadata": {"name": "op", "namespace": NAMESPACE},
            "spec": {"selector": {"matchLabels": {"app": "op"}}, "resources": [{"apiGroups": ["apps.kruise.io"], "resources": ["clonesets"]}],
                     "sharding": {"mode": "ObjectHash", "slots": 64}}}))
        # First the rules select no pod: the two proxies are compared with neither loading any
        # (the A/A control shows what differs between the processes themselves).
        for doc in rules(selected="nobody"):
            kubectl(kc, "apply", "-f", "-", input=json.dumps(doc))
        manager_port = free_port()
        procs.append(start([args.ctrlmesh, "manager", "--kubeconfig", kc, "--listen", f"127.0.0.1:{manager_port}",
                            "--identity", "bench", "--namespace", NAMESPACE,
                            "--grpc-plaintext", "--trust-sessions"], ready="listening"))
        proxies = {}
        for ordinal, label in ((0, "yes"), (1, "no")):
            pod = f"op-{ordinal}"
            kubectl(kc, "apply", "-f", "-", input=json.dumps({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod, "namespace": NAMESPACE,
                             "labels": {"app": "op", "policies": label, "statefulset.kubernetes.io/pod-name": pod}},
                "spec": {"containers": [{"name": "op", "image": "op"}]}}))
            port, admin = free_port(), free_port()
            procs.append(start([args.ctrlmesh, "proxy", "--listen", f"127.0.0.1:{port}", "--kubeconfig", kc,
                                "--manager", f"127.0.0.1:{manager_port}", "--pod-name", pod, "--pod-namespace", NAMESPACE,
                                "--metrics-listen", f"127.0.0.1:{admin}", "--manager-plaintext"], ready="ready"))
            wait_port(port)
            proxies[label] = (port, admin)
        deadline = time.time() + 60
        while not all(status(admin).get("appliedEpoch") is not None for _, admin in proxies.values()):
            if time.time() > deadline:
                sys.exit("the proxies did not apply their specs")
            time.sleep(0.2)
        print("GET /api/v1/namespaces/default/configmaps/bench through two proxies, alternating back-to-back rounds")
        for connections in (1, 16):
            compare(proxies, connections, args, "A/A control, no rules on either")
        for doc in rules():
            kubectl(kc, "apply", "-f", "-", input=json.dumps(doc))
        deadline = time.time() + 60
        while metrics(proxies["yes"][1]).count('outcome="matched"') != 50:
            if time.time() > deadline:
                sys.exit("the first proxy did not load the 50 rules")
            time.sleep(0.2)
        for connections in (1, 16):
            compare(proxies, connections, args, "50 rules on the first proxy")
        matched = sum(int(line.rsplit(" ", 1)[1]) for line in metrics(proxies["yes"][1]).splitlines()
                      if 'outcome="matched"' in line)
        print(f"requests any rule matched during the run: {matched}")
        policies_file = os.path.join(work, "policies.json")
        with open(policies_file, "w") as f:
            json.dump(rules(), f)
        out = subprocess.run([args.bench, "policy-match", "--policies", policies_file], capture_output=True, text=True, check=True).stdout
        print(out.strip() + "   (CPU time per request of the policy step, no proxy around it)")
    finally:
        for p in procs:
            p.kill()


if __name__ == "__main__":
    main()
