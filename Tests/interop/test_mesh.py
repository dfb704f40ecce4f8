"""The whole mesh as separate processes on the embedded API server: two `ctrlmesh manager`
replicas, and the unchanged CloneSet operator as shards, each pod behind its own
`ctrlmesh proxy --manager`. Shards come and go while CloneSets change, a member and the leading
manager are killed with SIGKILL, and the API server's record of who wrote what proves no key was
ever written by two shards at overlapping epochs."""
import json

from conftest import wait_until
from mesh_process import Churn, Mesh, audit, owner_of, reconciled_by
from operator_process import CLONESET_CRD, node_sim
from test_operator import cloneset

NAMESPACES = ["alpha", "beta", "gamma", "delta", "epsilon"]
PER_NAMESPACE = 6


def all_settled(server):
    """Every CloneSet has its replicas, all ready, for its latest generation."""
    sets = json.loads(server.kubectl("get", "clonesets", "-A", "-o", "json").stdout)["items"]
    pods = json.loads(server.kubectl("get", "pods", "-A", "-o", "json").stdout)["items"]
    live = {}
    for p in pods:
        if "deletionTimestamp" in p["metadata"]:
            continue
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in p.get("status", {}).get("conditions", []))
        for ref in p["metadata"].get("ownerReferences", []):
            if ref.get("controller"):
                live.setdefault(ref["uid"], []).append(ready)
    for cs in sets:
        status, want = cs.get("status", {}), cs["spec"]["replicas"]
        mine = live.get(cs["metadata"]["uid"], [])
        if not (status.get("observedGeneration") == cs["metadata"]["generation"] and status.get("readyReplicas") == want
                and len(mine) == want and all(mine)):
            return None
    return sets


def owned_correctly(mesh):
    """Every CloneSet was last reconciled by a pod of the shard that owns its uid now."""
    status = mesh.config()["status"]
    sets = all_settled(mesh.server)
    if sets is None:
        return None
    wrong = [cs["metadata"]["name"] for cs in sets if reconciled_by(cs) not in owner_of(status, cs["metadata"]["uid"])[1]]
    return None if wrong else sets


def test_shards_scale_out_and_in_survive_kill_9_and_never_overlap(direct_server, workdir):
    s = direct_server
    s.kubectl("apply", "-f", CLONESET_CRD)
    for ns in NAMESPACES:
        s.kubectl("create", "namespace", ns)
    nodes = node_sim(s.kubeconfig)
    mesh = Mesh(s, workdir, managers=2)
    churn = None
    try:
        for ordinal in range(3):
            mesh.add(ordinal)
        mesh.wait_converged(3)
        names = [(ns, f"app-{i}") for ns in NAMESPACES for i in range(PER_NAMESPACE)]
        s.kubectl("apply", "-f", "-", input="---\n".join(cloneset(name, ns, 1 + i % 3) for i, (ns, name) in enumerate(names)))
        wait_until(lambda: owned_correctly(mesh), timeout=90, what="every CloneSet reconciled by its owning shard")
        status = mesh.config()["status"]
        assert sorted(len(sh["slots"]) > 0 for sh in status["shards"]) == [True] * 3

        churn = Churn(s, names)
        # Scale out to 4 shards: a quarter of the slots move to the new one, revoke before grant.
        mesh.add(3)
        four = mesh.wait_converged(4)
        assert {sh["name"] for sh in four["shards"] if sh["slots"]} == {f"cloneset-operator-{i}" for i in range(4)}
        wait_until(lambda: owned_correctly(mesh), timeout=90, what="the new shard took up its CloneSets")
        # Back in to 2: two members leave gracefully (fence, release the lease), their slots move at once.
        mesh.remove(3)
        mesh.remove(2)
        two = mesh.wait_converged(2)
        assert two["handovers"]["total"] > 0

        # SIGKILL a member: its slots move only after its lease expired (3 s + 1 s skew).
        mesh.remove(1, sig=9)
        one = mesh.wait_converged(1)
        assert [sh["name"] for sh in one["shards"] if sh["slots"]] == ["cloneset-operator-0"]
        wait_until(lambda: owned_correctly(mesh), timeout=90, what="shard 0 took over the killed shard's CloneSets")
        # The StatefulSet recreates the pod under the same name: it rejoins its shard.
        mesh.add(1)
        before_failover = mesh.wait_converged(2)

        # SIGKILL the leading manager: the other takes over, adopts the assignment, moves nothing.
        leader = mesh.leader()
        index = int(leader.rsplit("-", 1)[1])
        mesh.managers[index].stop(sig=9)
        wait_until(lambda: mesh.leader() != leader, timeout=30, what="the other manager to lead")
        after_failover = mesh.wait_converged(2)
        targets = lambda st: {sh["name"]: sh["targetSlots"] for sh in st["shards"]}
        assert targets(after_failover) == targets(before_failover)
        epochs = {p.status()["shard"]: p.status()["appliedEpoch"] for p, _ in mesh.members.values()}
        # Members kept the specs they had: no epoch moved for the failover.
        assert epochs == {sh["name"]: sh["ackedEpoch"] for sh in before_failover["shards"] if sh["members"]}

        churn.stop()
        sets = wait_until(lambda: owned_correctly(mesh), timeout=90, what="every CloneSet with its owner after the churn")
        assert len(sets) == len(names) and churn.patches > 10
        writes, keys, moved, violations = audit(s.url)
        assert violations == [], violations[:5]
        assert keys >= len(names) and moved > 0, (writes, keys, moved)
    finally:
        if churn:
            churn.stop()
        mesh.stop()
        nodes.stop()
