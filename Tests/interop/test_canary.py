"""Canary rollouts of the unchanged CloneSet operator through the whole mesh, as processes: a
`ctrlmesh manager`, stable operator pods and one canary pod (label version=v2), each behind
`ctrlmesh proxy --manager`. The canary's share grows step by step through safe handovers; a
canary whose reconciles fail is rolled back; `ctrlmesh rollout` pauses, resumes and aborts; the
API server's write record shows no object written by two shards at once."""
import json
import subprocess
import time

import pytest

from conftest import BINARY, Proxy, wait_until
from kube_http import Client
from mesh_process import CONFIG, NAMESPACE, Churn, Mesh, audit, reconciled_by, sharding_config
from operator_process import CLONESET_CRD, node_sim
from test_mesh import all_settled
from test_operator import cloneset

CANARY_POD = "cloneset-operator-v2-0"
NAMESPACES = ["canary-ns"] + [f"team-{i}" for i in range(5)]


def canary_config(pause, window="20s"):
    return sharding_config(mode="NamespaceHash", canary={
        "selector": {"matchLabels": {"version": "v2"}},
        "steps": [{"namespaces": ["canary-ns"]}, {"percent": 50}, {"percent": 100}],
        "pause": pause,
        "analysis": {"maxErrorPercent": 20, "minRequests": 5, "window": window}})


def rollout_cli(server, *args, check=True):
    result = subprocess.run([BINARY, "rollout", *args, CONFIG, "-n", NAMESPACE, "--kubeconfig", server.kubeconfig],
                            capture_output=True, text=True, timeout=60)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def rollout_of(mesh):
    return mesh.config().get("status", {}).get("rollout") or {}


def wait_rollout(mesh, phase, timeout=120, seen=None):
    """Waits for the phase, recording every (step, ownedSlots) the status showed on the way."""
    def check():
        r = rollout_of(mesh)
        if seen is not None and r:
            seen.add((r.get("step"), r.get("ownedSlots")))
        return r if r.get("phase") == phase else None
    return wait_until(check, timeout=timeout, interval=0.3, what=f"the rollout {phase}")


def wait_owned(mesh, canary_slots, timeout=60):
    """Converged, every member ready, with the canary shard owning exactly `canary_slots`."""
    def check():
        status = mesh.config().get("status", {})
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", []))
        members = all(m["state"] == "Ready" for s in status.get("shards", []) for m in s.get("members", []))
        canary = next((s for s in status.get("shards", []) if s["name"] == f"{CONFIG}-canary"), {})
        owned = sum(int(h or l) - int(l) + 1 for l, _, h in (p.partition("-") for p in filter(None, canary.get("slots", "").split(","))))
        return status if ready and members and owned == canary_slots else None
    return wait_until(check, timeout=timeout, what=f"the canary owning {canary_slots} slots")


def assert_no_overlap(server):
    writes, keys, moved, violations = audit(server.url)
    assert writes > 0 and keys > 0
    assert not violations, violations[:5]
    return moved


@pytest.fixture
def mesh(request, direct_server, workdir):
    """Two stable shards owning every CloneSet, each settled, before the canary pod starts; the
    steps' pause is the test's parameter."""
    s = direct_server
    s.kubectl("apply", "-f", CLONESET_CRD)
    nodes = node_sim(s.kubeconfig)
    m = Mesh(s, workdir, managers=1, config=canary_config(pause=request.param))
    for ns in NAMESPACES:
        s.kubectl("create", "namespace", ns)
        s.kubectl("apply", "-f", "-", input=cloneset("web", ns, 2))
    for ordinal in (0, 1):
        m.add(ordinal)
    wait_until(lambda: all_settled(s), timeout=90, what="every CloneSet settled by the stable shards")
    yield m
    m.stop()
    nodes.stop(sig=9)


@pytest.mark.parametrize("mesh", ["3s"], indirect=True)
def test_a_healthy_canary_steps_to_completion_and_obeys_pause_resume_and_abort(mesh):
    s = mesh.server
    # Paused before the canary pod exists: it will take the first step and hold there.
    paused = rollout_cli(s, "pause")
    assert "rollout Paused, step 1 of 3" in paused.stdout, paused.stdout
    churn = Churn(s, [(ns, "web") for ns in NAMESPACES])
    try:
        mesh.add(9, pod=CANARY_POD, labels={"version": "v2"}, operator_extra=["--pod-label", "ctrlmesh.test/version=v2"])
        # The first step: canary-ns's slot, one of 64.
        wait_owned(mesh, 1)
        time.sleep(5)  # longer than the 3 s pause: a paused rollout holds its step
        r = rollout_of(mesh)
        assert r["phase"] == "Paused" and r["step"] == 1 and r["ownedSlots"] == 1, r
        resumed = rollout_cli(s, "resume")
        assert "rollout Progressing" in resumed.stdout, resumed.stdout
        seen = set()
        wait_rollout(mesh, "Completed", seen=seen)
        # It went through the 50% step (32 slots) before the last.
        assert (2, 32) in seen or any(step == 3 for step, _ in seen), seen
        wait_owned(mesh, 64)
    finally:
        churn.stop()
    assert churn.patches > 0
    wait_until(lambda: all_settled(s), timeout=90, what="every CloneSet settled by the canary")
    for ns in NAMESPACES:
        cs = json.loads(s.kubectl("get", "cloneset", "web", "-n", ns, "-o", "json").stdout)
        assert reconciled_by(cs) == CANARY_POD, (ns, reconciled_by(cs))
    status = rollout_cli(s, "status").stdout
    assert "rollout Completed, step 3 of 3" in status and "owns 64 slots (100%)" in status, status
    table = subprocess.run([BINARY, "status", "--kubeconfig", s.kubeconfig], capture_output=True, text=True, timeout=60).stdout
    assert "rollout: Completed, all 3 steps done" in table and f"{CONFIG}-canary" in table, table

    # Abort after completion: everything goes back to the stable shards, by the same handovers.
    aborted = rollout_cli(s, "abort")
    assert "rollout Aborted" in aborted.stdout, aborted.stdout
    wait_owned(mesh, 0)
    s.kubectl("patch", "cloneset", "web", "-n", "team-1", "--type", "merge", "-p", '{"spec": {"replicas": 3}}')
    wait_until(lambda: all_settled(s), timeout=90, what="every CloneSet settled after the abort")
    cs = json.loads(s.kubectl("get", "cloneset", "web", "-n", "team-1", "-o", "json").stdout)
    assert reconciled_by(cs) in ("cloneset-operator-0", "cloneset-operator-1"), reconciled_by(cs)
    assert assert_no_overlap(s) > 0, "CloneSets moved between shards"


@pytest.mark.parametrize("mesh", ["5m"], indirect=True)
def test_a_canary_whose_reconciles_fail_is_rolled_back_without_overlap(mesh):
    s = mesh.server
    # The broken version stamps a label value the API server refuses (422 Invalid) on every pod it creates.
    mesh.add(9, pod=CANARY_POD, labels={"version": "v2"}, operator_extra=["--pod-label", "ctrlmesh.test/version=v2 broken!"])
    wait_owned(mesh, 1)
    # Work for the canary: its namespace's CloneSet needs three more pods.
    s.kubectl("patch", "cloneset", "web", "-n", "canary-ns", "--type", "merge", "-p", '{"spec": {"replicas": 5}}')
    r = wait_rollout(mesh, "RolledBack", timeout=60)
    assert r["step"] == 1 and "canary API calls failed" in r["message"], r
    assert r["analysis"]["errors"] >= 5, r
    # The canary's proxy exposes what it counted; the stable proxies saw no failed calls.
    errors = "ctrlmesh_proxy_sharded_call_errors_total"
    assert mesh.members[9][0].metric(errors) >= r["analysis"]["errors"]
    assert all(mesh.members[i][0].metric(errors) == 0 for i in (0, 1))
    wait_owned(mesh, 0)
    # The stable shards take canary-ns back and finish what the canary could not.
    wait_until(lambda: all_settled(s), timeout=90, what="every CloneSet settled after the rollback")
    cs = json.loads(s.kubectl("get", "cloneset", "web", "-n", "canary-ns", "-o", "json").stdout)
    assert cs["status"]["readyReplicas"] == 5
    assert reconciled_by(cs) in ("cloneset-operator-0", "cloneset-operator-1"), reconciled_by(cs)
    status = rollout_cli(s, "status").stdout
    assert "rollout RolledBack, step 1 of 3" in status and "owns 0 slots" in status, status
    # A request the phase does not allow is acknowledged and changes nothing.
    assert "rollout RolledBack" in rollout_cli(s, "pause").stdout
    assert_no_overlap(s)


def test_rollout_requests_on_a_config_without_canary_fail_with_one_line(direct_server, workdir):
    s = direct_server
    m = Mesh(s, workdir, managers=1)
    try:
        result = rollout_cli(s, "pause", check=False)
        assert result.returncode != 0
        assert result.stderr.strip() == f"Error: ShardingConfig {NAMESPACE}/{CONFIG} has no canary", result.stderr
        missing = subprocess.run([BINARY, "rollout", "status", "nope", "-n", NAMESPACE, "--kubeconfig", s.kubeconfig],
                                 capture_output=True, text=True, timeout=60)
        assert missing.returncode != 0 and missing.stderr.count("\n") == 1 and "nope" in missing.stderr, missing.stderr
    finally:
        m.stop()


def test_the_proxy_counts_single_object_calls_on_sharded_resources_and_their_errors(direct_server, workdir):
    """What a canary is judged by, call by call: only the API server's answers to single-object
    calls on sharded resources count, and of those only 400, 403, 422 and 5xx are errors."""
    s = direct_server
    for ns in ("team-a", "team-b"):
        s.kubectl("create", "namespace", ns)
    spec = ("shard: a\nepoch: 1\nresources:\n- {apiGroups: [\"\"], resources: [configmaps], key: namespace}\n"
            "owned:\n  namespaces: [team-a]\n")
    proxy = Proxy(workdir, s.kubeconfig, spec=spec).start()
    try:
        proxy.wait_applied(1)
        api = Client(proxy.url)

        def cm(ns, name):
            return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}}

        answers = [
            api.request("GET", "/api/v1/namespaces/team-a/configmaps/nope")[0],                        # 404: a call, no error
            api.request("POST", "/api/v1/namespaces/team-a/configmaps", cm("team-a", "good"))[0],      # 201
            api.request("POST", "/api/v1/namespaces/team-a/configmaps", cm("team-a", "Bad_Name"))[0],  # 422: an error
            api.request("POST", "/api/v1/namespaces/team-a/configmaps", cm("team-a", "good"))[0],      # 409: no error
            # Not counted: refused by the proxy itself, a deletecollection, an unsharded resource, a list.
            api.request("POST", "/api/v1/namespaces/team-b/configmaps", cm("team-b", "other"))[0],
            api.request("DELETE", "/api/v1/namespaces/team-a/configmaps")[0],
            api.request("GET", "/api/v1/namespaces/team-a")[0],
            api.request("GET", "/api/v1/namespaces/team-a/configmaps")[0],
        ]
        assert answers == [404, 201, 422, 409, 403, 200, 200, 200], answers
        assert proxy.metric("ctrlmesh_proxy_sharded_calls_total") == 4
        assert proxy.metric("ctrlmesh_proxy_sharded_call_errors_total") == 1
    finally:
        proxy.kill()
