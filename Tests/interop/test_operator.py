"""The sample CloneSet operator (`ctrlmesh sample-operator`) on the real OpenKruise CloneSet CRD,
driven with kubectl; its Lease leader election against itself and against the Python client's."""
import json
import os
import sys
import textwrap
import time

from conftest import wait_until
from operator_process import (CLONESET_CRD, CLONESET_SAMPLE, RECONCILED_BY, node_sim, operator, overlapping)


def get_json(server, *args):
    return json.loads(server.kubectl("get", *args, "-o", "json").stdout)


def pods_of(server, namespace, app):
    return get_json(server, "pods", "-n", namespace, "-l", f"app={app}")["items"]


def ready(pod):
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))


def settled(server, namespace, name, replicas):
    """The CloneSet's status reports `replicas` ready, updated pods for its latest generation."""
    cs = get_json(server, "cloneset", name, "-n", namespace)
    status = cs.get("status", {})
    pods = pods_of(server, namespace, cs["spec"]["selector"]["matchLabels"]["app"])
    live = [p for p in pods if "deletionTimestamp" not in p["metadata"]]
    ok = (status.get("observedGeneration") == cs["metadata"]["generation"] and status.get("readyReplicas") == replicas
          and status.get("replicas") == replicas and len(live) == replicas and all(ready(p) for p in live))
    return (cs, live) if ok else None


def cloneset(name, namespace, replicas, image="nginx:alpine", strategy="InPlaceIfPossible", extra=""):
    return textwrap.dedent(f"""\
        apiVersion: apps.kruise.io/v1alpha1
        kind: CloneSet
        metadata: {{name: {name}, namespace: {namespace}}}
        spec:
          replicas: {replicas}
          selector: {{matchLabels: {{app: {name}}}}}
          template:
            metadata: {{labels: {{app: {name}}}}}
            spec:
              containers: [{{name: main, image: "{image}"}}]
          updateStrategy: {{type: {strategy}, maxUnavailable: 2{extra}}}
        """)


def test_cloneset_scales_rolls_and_is_collected(direct_server):
    s = direct_server
    s.kubectl("apply", "-f", CLONESET_CRD)
    nodes = node_sim(s.kubeconfig)
    op = operator(s.kubeconfig, "op-1")
    try:
        s.kubectl("apply", "-f", CLONESET_SAMPLE)
        cs, pods = wait_until(lambda: settled(s, "default", "sample", 5), what="5 ready pods")
        assert cs["metadata"]["annotations"][RECONCILED_BY] == "op-1"
        assert cs["status"]["updatedReplicas"] == 5 and cs["status"]["labelSelector"] == "app=sample"
        for p in pods:
            owner = p["metadata"]["ownerReferences"][0]
            assert owner["kind"] == "CloneSet" and owner["uid"] == cs["metadata"]["uid"] and owner["controller"] is True
        first_uids = {p["metadata"]["uid"] for p in pods}

        # An image-only change under InPlaceIfPossible: same pods, new image, one restart each.
        s.kubectl("patch", "cloneset", "sample", "--type", "merge",
                  "-p", '{"spec":{"template":{"spec":{"containers":[{"name":"main","image":"nginx:1.27"}]}}}}')
        def rolled_in_place():
            got = settled(s, "default", "sample", 5)
            if not got or got[0]["status"]["updatedReplicas"] != 5:
                return None
            return got if all(p["spec"]["containers"][0]["image"] == "nginx:1.27" for p in got[1]) else None
        cs, pods = wait_until(rolled_in_place, what="in-place update")
        assert {p["metadata"]["uid"] for p in pods} == first_uids
        assert all(p["status"]["containerStatuses"][0]["restartCount"] == 1 for p in pods)
        revision = cs["status"]["updateRevision"]
        assert all(p["metadata"]["labels"]["controller-revision-hash"] == revision for p in pods)

        # A change beyond images with partition 2: three pods recreated, two kept at the old revision.
        s.kubectl("patch", "cloneset", "sample", "--type", "merge", "-p", json.dumps({"spec": {
            "updateStrategy": {"partition": 2},
            "template": {"spec": {"containers": [{"name": "main", "image": "nginx:1.27", "env": [{"name": "A", "value": "b"}]}]}}}}))
        def partitioned():
            got = settled(s, "default", "sample", 5)
            return got if got and got[0]["status"]["updatedReplicas"] == 3 else None
        cs, pods = wait_until(partitioned, what="partitioned recreate")
        new_rev = cs["status"]["updateRevision"]
        kept = [p for p in pods if p["metadata"]["labels"]["controller-revision-hash"] != new_rev]
        assert len(kept) == 2 and {p["metadata"]["uid"] for p in kept} <= first_uids
        recreated = [p for p in pods if p["metadata"]["labels"]["controller-revision-hash"] == new_rev]
        assert not ({p["metadata"]["uid"] for p in recreated} & first_uids)
        assert cs["status"]["currentRevision"] != new_rev

        # InPlaceOnly never recreates: a non-image change leaves every pod alone.
        before = {p["metadata"]["uid"]: p["metadata"]["labels"]["controller-revision-hash"] for p in pods}
        s.kubectl("patch", "cloneset", "sample", "--type", "merge", "-p", json.dumps({"spec": {
            "updateStrategy": {"type": "InPlaceOnly", "partition": 0},
            "template": {"spec": {"containers": [{"name": "main", "image": "nginx:1.27", "env": [{"name": "A", "value": "c"}]}]}}}}))
        cs = wait_until(lambda: (lambda c: c if c.get("status", {}).get("observedGeneration") == c["metadata"]["generation"] else None)(
            get_json(s, "cloneset", "sample")), what="InPlaceOnly observed")
        time.sleep(1)
        after = {p["metadata"]["uid"]: p["metadata"]["labels"]["controller-revision-hash"] for p in pods_of(s, "default", "sample")}
        assert after == before and cs["status"]["updatedReplicas"] == 0

        # podsToDelete: that pod goes and a replacement comes.
        victim = pods[0]["metadata"]["name"]
        s.kubectl("patch", "cloneset", "sample", "--type", "merge", "-p", json.dumps({"spec": {
            "updateStrategy": {"type": "ReCreate"}, "scaleStrategy": {"podsToDelete": [victim]}}}))
        def replaced():
            got = settled(s, "default", "sample", 5)
            return got if got and victim not in {p["metadata"]["name"] for p in got[1]} else None
        wait_until(replaced, what="podsToDelete replacement")

        # Scale down and up.
        s.kubectl("patch", "cloneset", "sample", "--type", "merge", "-p", '{"spec":{"replicas":2,"scaleStrategy":{"podsToDelete":[]}}}')
        wait_until(lambda: settled(s, "default", "sample", 2), what="scale down to 2")
        s.kubectl("patch", "cloneset", "sample", "--type", "merge", "-p", '{"spec":{"replicas":4}}')
        wait_until(lambda: settled(s, "default", "sample", 4), what="scale up to 4")

        # Deleting the CloneSet garbage-collects its pods (kubectl waits for the CloneSet itself).
        s.kubectl("delete", "cloneset", "sample")
        wait_until(lambda: pods_of(s, "default", "sample") == [], what="pods collected")
        # A spec the operator cannot act on is reported, not retried forever, and breaks nothing.
        s.kubectl("apply", "-f", "-", input=cloneset("bad", "default", 1, strategy="Sideways"))
        op.wait_for("invalid CloneSet", timeout=10)
        assert op.proc.poll() is None
    finally:
        assert op.stop() == 0
        nodes.stop()


def test_leader_election_hands_over_between_processes(direct_server):
    s = direct_server
    s.kubectl("apply", "-f", CLONESET_CRD)
    nodes = node_sim(s.kubeconfig)
    a = operator(s.kubeconfig, "op-a", leader_elect=True)
    b = c = None
    try:
        a.wait_for("leading op-a")
        b = operator(s.kubeconfig, "op-b", leader_elect=True)
        s.kubectl("apply", "-f", "-", input=cloneset("web", "default", 2))
        cs, _ = wait_until(lambda: settled(s, "default", "web", 2), what="web ready")
        assert cs["metadata"]["annotations"][RECONCILED_BY] == "op-a"
        assert "leading op-b" not in "\n".join(b.output())

        # The leader dies without releasing: op-b leads once the 3 s lease has run out.
        killed = time.time()
        a.stop(sig=9)
        took = b.wait_for("leading op-b", timeout=10, after=killed) - killed
        print(f"takeover after SIGKILL of the leader: {took:.2f}s (lease 3s, retry 0.5s)")
        assert 1.5 <= took <= 5.0, f"takeover after {took:.2f}s with a 3s lease"
        lease = get_json(s, "lease", "ctrlmesh-sample-operator")
        assert lease["spec"]["holderIdentity"] == "op-b" and lease["spec"]["leaseTransitions"] == 1
        s.kubectl("patch", "cloneset", "web", "--type", "merge", "-p", '{"spec":{"replicas":3}}')
        cs, _ = wait_until(lambda: settled(s, "default", "web", 3), what="web scaled by the new leader")
        wait_until(lambda: get_json(s, "cloneset", "web")["metadata"]["annotations"][RECONCILED_BY] == "op-b", what="op-b annotation")

        # A graceful stop releases the Lease: op-c takes over within about a retry period.
        c = operator(s.kubeconfig, "op-c", leader_elect=True)
        time.sleep(1)
        stopped = time.time()
        assert b.stop() == 0
        took = c.wait_for("leading op-c", timeout=10, after=stopped) - stopped
        print(f"handover after SIGTERM (lease released): {took:.2f}s")
        assert took < 2.0, f"handover after release took {took:.2f}s"
        assert overlapping(a.leadership(), b.leadership(), c.leadership()) == []
    finally:
        for p in (a, b, c):
            if p:
                p.stop(sig=9)
        nodes.stop()


PYTHON_ELECTOR = """
import sys, time, threading
from kubernetes import config
from kubernetes.leaderelection import leaderelection, electionconfig
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock
config.load_kube_config(sys.argv[1])
def started():
    print(f"leading python at {time.time()}", flush=True)
    threading.Event().wait()
def stopped():
    print(f"stopped leading python at {time.time()}", flush=True)
lock = LeaseLock("ctrlmesh-sample-operator", "default", "python")
cfg = electionconfig.Config(lock, lease_duration=4, renew_deadline=3, retry_period=1.5,
                            onstarted_leading=started, onstopped_leading=stopped)
print("python elector started", flush=True)
leaderelection.LeaderElection(cfg).run()
"""


class PythonElector:
    """The Python `kubernetes` client's own LeaderElection over the same Lease."""

    def __init__(self, kubeconfig, workdir):
        from operator_process import Process
        script = os.path.join(workdir, "elector.py")
        with open(script, "w") as f:
            f.write(PYTHON_ELECTOR)
        self.p = Process([sys.executable, script, kubeconfig], binary=None)


def test_our_elector_and_the_python_clients_never_both_lead(direct_server, workdir):
    s = direct_server
    s.kubectl("apply", "-f", CLONESET_CRD)
    # The Python elector needs a retry period over one second; both sides use 4 s leases.
    ours = operator(s.kubeconfig, "swift-1", leader_elect=True, timings="4,3,1")
    python = ours2 = None
    try:
        ours.wait_for("leading swift-1")
        python = PythonElector(s.kubeconfig, workdir).p
        time.sleep(2)
        assert "leading python" not in "\n".join(python.output()), "python led while swift-1 held the lease"

        # Ours releases on SIGTERM; the Python elector sees a free Lease and takes it.
        stopped = time.time()
        assert ours.stop() == 0
        took = python.wait_for("leading python", timeout=10, after=stopped) - stopped
        print(f"python elector took the released lease after {took:.2f}s")
        assert took < 3.5, f"python took {took:.2f}s to take a released lease"
        assert get_json(s, "lease", "ctrlmesh-sample-operator")["spec"]["holderIdentity"] == "python"

        # A new one of ours waits while Python renews, then takes over after Python dies.
        ours2 = operator(s.kubeconfig, "swift-2", leader_elect=True, timings="4,3,1")
        time.sleep(5)
        assert "leading swift-2" not in "\n".join(ours2.output()), "swift-2 led while python renewed the lease"
        killed = time.time()
        python.stop(sig=9)
        took = ours2.wait_for("leading swift-2", timeout=10, after=killed) - killed
        print(f"swift-2 took over {took:.2f}s after the python elector was killed (lease 4s)")
        assert 2.0 <= took <= 7.0, f"swift-2 took over after {took:.2f}s with a 4s lease"
        assert overlapping(ours.leadership(), python.leadership(), ours2.leadership()) == []
    finally:
        for p in (ours, python, ours2):
            if p:
                p.stop(sig=9)


def test_operator_over_https_and_http2(workdir):
    """The runtime's client against a TLS API server (generated CA from the kubeconfig; ALPN
    offers h2, so requests and watches share HTTP/2 connections)."""
    from conftest import Server
    s = Server(workdir, tls=True).start()
    nodes = op = None
    try:
        s.kubectl("apply", "-f", CLONESET_CRD)
        nodes = node_sim(s.kubeconfig)
        op = operator(s.kubeconfig, "tls-op", leader_elect=True)
        op.wait_for("leading tls-op")
        s.kubectl("apply", "-f", "-", input=cloneset("secure", "default", 3))
        cs, _ = wait_until(lambda: settled(s, "default", "secure", 3), what="3 ready pods over TLS")
        assert cs["metadata"]["annotations"][RECONCILED_BY] == "tls-op"
    finally:
        for p in (op, nodes):
            if p:
                p.stop(sig=9)
        s.kill()
