#!/usr/bin/env python3
"""What the fence where writes land adds per write, side by side in one run.

Three stacks, each an embedded API server, a manager and one member proxy (so the config's
grant record covers every slot): the API server fencing natively; the API server calling the
manager's `/fence-writes` webhook instead (`--no-mesh-fence`, manager `--fence-webhook`, the
path a real kube-apiserver takes); and no fence at all. The same stamped merge patch of a
sharded object is sent straight to each API server, in alternating rounds, and the latency of
each is recorded. Prints p50/p99/mean per stack and the difference to the unfenced stack.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "Tests", "interop"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ctrlmesh", required=True)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--per-round", type=int, default=100)
    args = parser.parse_args()
    os.environ["CTRLMESH_BIN"] = os.path.abspath(args.ctrlmesh)
    from conftest import Server, free_port, wait_until  # noqa: E402
    from mesh_process import CONFIG, NAMESPACE, Mesh, MeshProxy, pod_manifest  # noqa: E402

    stacks = {}
    try:
        for name in ("none", "native", "webhook"):
            workdir = tempfile.mkdtemp(prefix=f"ctrlmesh-fence-{name}-")
            server = Server(workdir, extra=[] if name == "native" else ["--no-mesh-fence"]).start()
            server.kubectl("create", "namespace", "apps")
            extra = []
            if name == "webhook":
                port = free_port()
                extra = ["--webhook-listen", f"127.0.0.1:{port}", "--webhook-url", f"https://127.0.0.1:{port}", "--fence-webhook"]
            mesh = Mesh(server, workdir, managers=1, manager_extra=extra)
            server.kubectl("apply", "-f", "-", input=pod_manifest("cloneset-operator-0"))
            proxy = MeshProxy(workdir, server.kubeconfig, "cloneset-operator-0", mesh.manager_addresses)
            mesh.wait_converged(1)
            if name == "webhook":
                wait_until(lambda: server.kubectl("get", "validatingwebhookconfiguration", "ctrlmesh-write-fence", check=False).returncode == 0,
                           what="the fence webhook registered")
            holder = mesh.config()["status"]["grants"]["holders"][0]
            # A pod owned by the member (object mode: its own uid's slot is the member's, every slot is).
            server.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "Pod",
                                                                 "metadata": {"name": "target", "namespace": "apps"},
                                                                 "spec": {"containers": [{"name": "c", "image": "x"}]}}))
            stacks[name] = (server, mesh, proxy, holder)

        def patch(server, holder, n):
            body = json.dumps({"metadata": {"labels": {"n": str(n)}}}).encode()
            request = urllib.request.Request(f"{server.url}/api/v1/namespaces/apps/pods/target", data=body, method="PATCH", headers={
                "Content-Type": "application/merge-patch+json", "Impersonate-User": "system:serviceaccount:ctrlmesh-system:cloneset-operator",
                "Impersonate-Extra-ctrlmesh.kruise.io%2Fmesh": f"ctrlmesh.kruise.io/{NAMESPACE}/{CONFIG}",
                "Impersonate-Extra-ctrlmesh.kruise.io%2Fshard": holder["shard"],
                "Impersonate-Extra-ctrlmesh.kruise.io%2Fepoch": str(holder["epoch"])})
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=10) as r:
                assert r.status == 200
                r.read()
            return time.perf_counter() - started

        # Warm up, then alternate rounds so drift in the machine's load hits all three alike.
        for name, (server, _, _, holder) in stacks.items():
            for n in range(50):
                patch(server, holder, n)
        samples = {name: [] for name in stacks}
        for round_ in range(args.rounds):
            for name, (server, _, _, holder) in stacks.items():
                for n in range(args.per_round):
                    samples[name].append(patch(server, holder, round_ * 1000 + n))
        for values in samples.values():
            values.sort()
        base = samples["none"][len(samples["none"]) // 2]
        print(f"stamped merge patch of a sharded pod, {args.rounds} x {args.per_round} per stack, alternating rounds")
        print(f"{'fence':<10}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'p50 vs none':>13}")
        for name, values in samples.items():
            p50, p99 = values[len(values) // 2], values[min(len(values) - 1, int(len(values) * 0.99))]
            print(f"{name:<10}{p50 * 1000:>9.3f}{p99 * 1000:>9.3f}{statistics.mean(values) * 1000:>9.3f}"
                  f"{(p50 - base) * 1000:>+12.3f}ms")
    finally:
        for server, mesh, proxy, _ in stacks.values():
            proxy.process.stop(sig=9)
            mesh.stop()
            server.kill()


if __name__ == "__main__":
    main()
