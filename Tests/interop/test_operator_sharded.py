"""The sample operator, unchanged, as two shards behind two `ctrlmesh proxy` sidecars: each shard
reconciles only its namespaces, both lead at once on their renamed locks, and a live reshard moves
a namespace from one shard's informers to the other's through 410 Expired and a relist."""
import time

from conftest import Proxy, wait_until
from operator_process import CLONESET_CRD, RECONCILED_BY, node_sim, operator
from test_operator import cloneset, get_json, settled


def shard_spec(shard, namespaces, epoch):
    listed = ", ".join(namespaces)
    return (f"shard: {shard}\nepoch: {epoch}\n"
            "resources:\n"
            "- {apiGroups: [apps.kruise.io], resources: [clonesets], key: namespace}\n"
            "- {apiGroups: [\"\"], resources: [pods], key: namespace}\n"
            f"owned:\n  namespaces: [{listed}]\n"
            "leaderElection: {resource: leases, namespace: default, name: ctrlmesh-sample-operator}\n")


class Shards:
    """Two operator shards, each behind its own proxy with its spec, and a node simulator: the
    operators lead their renamed Leases before the test body runs; everything stops after it."""

    def __init__(self, server, workdir, spec_a, spec_b, identities):
        server.kubectl("apply", "-f", CLONESET_CRD)
        self.nodes = node_sim(server.kubeconfig)
        self.proxy_a = Proxy(workdir, server.kubeconfig, spec=spec_a, name="proxy-a").start()
        self.proxy_b = Proxy(workdir, server.kubeconfig, spec=spec_b, name="proxy-b").start()
        self.proxy_a.wait_applied(1)
        self.proxy_b.wait_applied(1)
        self.op_a = operator(self.proxy_a.kubeconfig, identities[0], leader_elect=True)
        self.op_b = operator(self.proxy_b.kubeconfig, identities[1], leader_elect=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for p in (self.op_a, self.op_b):
            p.stop(sig=9)
        for p in (self.proxy_a, self.proxy_b):
            p.kill()
        self.nodes.stop()


def reconciled_by(server, namespace, name):
    return get_json(server, "cloneset", name, "-n", namespace)["metadata"].get("annotations", {}).get(RECONCILED_BY)


def test_two_shards_split_the_clonesets_and_a_live_reshard_moves_one(direct_server, workdir):
    s = direct_server
    for ns in ("team-a", "team-b", "team-c"):
        s.kubectl("create", "namespace", ns)
    with Shards(s, workdir, shard_spec("a", ["team-a", "team-c"], 1), shard_spec("b", ["team-b"], 1),
                ("shard-a-0", "shard-b-0")) as shards:
        proxy_a, proxy_b, op_a, op_b = shards.proxy_a, shards.proxy_b, shards.op_a, shards.op_b
        # The same Lease name, renamed per shard by each proxy: both lead at once.
        op_a.wait_for("leading shard-a-0")
        op_b.wait_for("leading shard-b-0")
        leases = {l["metadata"]["name"]: l["spec"]["holderIdentity"]
                  for l in get_json(s, "leases", "-n", "default")["items"]}
        assert leases == {"ctrlmesh-sample-operator---a": "shard-a-0", "ctrlmesh-sample-operator---b": "shard-b-0"}

        # team-c holds the most CloneSets: the more keys a move touches, the surer a race shows.
        counts = {"team-a": 3, "team-b": 3, "team-c": 10}
        s.kubectl("apply", "-f", "-", input="---\n".join(cloneset(f"app-{i}", ns, 2) for ns, n in counts.items() for i in range(n)))
        for ns, owner in (("team-a", "shard-a-0"), ("team-b", "shard-b-0"), ("team-c", "shard-a-0")):
            for i in range(counts[ns]):
                wait_until(lambda: settled(s, ns, f"app-{i}", 2), what=f"{ns}/app-{i} ready")
                assert reconciled_by(s, ns, f"app-{i}") == owner
        # Each shard's operator saw only its own namespaces: no write of the other shard's was refused.
        assert proxy_a.metric("ctrlmesh_proxy_refused_requests_total") == 0
        assert proxy_b.metric("ctrlmesh_proxy_refused_requests_total") == 0

        untouched = {p["metadata"]["uid"] for i in range(1, 10) for p in settled(s, "team-c", f"app-{i}", 2)[1]}

        # Move team-c from shard a to shard b: revoke first, then grant.
        proxy_a.write_spec(shard_spec("a", ["team-a"], 2))
        proxy_a.wait_applied(2)
        proxy_b.write_spec(shard_spec("b", ["team-b", "team-c"], 2))
        proxy_b.wait_applied(2)
        assert proxy_a.metric("ctrlmesh_proxy_watches_expired_total") >= 1
        assert proxy_b.metric("ctrlmesh_proxy_watches_expired_total") >= 1
        # Shard b's informers relisted and now hold team-c: scaling there is done by shard b.
        s.kubectl("patch", "cloneset", "app-0", "-n", "team-c", "--type", "merge", "-p", '{"spec":{"replicas":3}}')
        wait_until(lambda: settled(s, "team-c", "app-0", 3), what="team-c/app-0 scaled after the move")
        wait_until(lambda: reconciled_by(s, "team-c", "app-0") == "shard-b-0", what="shard b reconciled team-c")
        # Shard a no longer acts there: a change in team-a still goes to a, none in team-c does.
        s.kubectl("patch", "cloneset", "app-1", "-n", "team-a", "--type", "merge", "-p", '{"spec":{"replicas":1}}')
        wait_until(lambda: settled(s, "team-a", "app-1", 1), what="team-a/app-1 scaled")
        assert reconciled_by(s, "team-a", "app-1") == "shard-a-0"
        time.sleep(1)
        # Both shards' workers waited for all their informers to relist before acting: shard a
        # never tried to recreate the pods it stopped seeing, shard b never created duplicates.
        assert proxy_a.metric("ctrlmesh_proxy_refused_requests_total") == 0, "shard a tried to write outside its shard:\n" + "\n".join(op_a.output())
        assert {p["metadata"]["uid"] for i in range(1, 10) for p in settled(s, "team-c", f"app-{i}", 2)[1]} == untouched, \
            "pods of CloneSets that did not change were created or deleted during the move"
        assert reconciled_by(s, "team-c", "app-1") in ("shard-a-0", "shard-b-0")


def hash_spec(shard, start, end):
    return (f"shard: {shard}\nepoch: 1\n"
            "resources:\n"
            "- {apiGroups: [apps.kruise.io], resources: [clonesets], key: object}\n"
            "- {apiGroups: [\"\"], resources: [pods], key: object}\n"
            f"owned:\n  objectHashRanges: [{{start: \"{start}\", end: \"{end}\"}}]\n"
            "leaderElection: {resource: leases, namespace: default, name: ctrlmesh-sample-operator}\n")


def test_object_hash_shards_keep_pods_with_their_cloneset(direct_server, workdir):
    """Object-hash sharding splits CloneSets of one namespace by uid; each pod follows its
    CloneSet through the controller ownerReference, so every CloneSet is reconciled, and its pods
    created, by exactly one shard."""
    s = direct_server
    half = "0x8000000000000000"
    with Shards(s, workdir, hash_spec("a", "0x0", half), hash_spec("b", half, "0x10000000000000000"),
                ("hash-a", "hash-b")) as shards:
        proxy_a, proxy_b, op_a, op_b = shards.proxy_a, shards.proxy_b, shards.op_a, shards.op_b
        op_a.wait_for("leading hash-a")
        op_b.wait_for("leading hash-b")
        s.kubectl("apply", "-f", "-", input="---\n".join(cloneset(f"h-{i}", "default", 2) for i in range(12)))
        owners = {}
        for i in range(12):
            cs, pods = wait_until(lambda: settled(s, "default", f"h-{i}", 2), what=f"h-{i} ready")
            by = cs["metadata"]["annotations"][RECONCILED_BY]
            # The owning shard is the one whose half holds FNV-1a 64 of the CloneSet's uid.
            h = 0xcbf29ce484222325
            for byte in cs["metadata"]["uid"].encode():
                h = ((h ^ byte) * 0x100000001b3) % (1 << 64)
            assert by == ("hash-a" if h < (1 << 63) else "hash-b"), (cs["metadata"]["uid"], by)
            owners[by] = owners.get(by, 0) + 1
        assert set(owners) == {"hash-a", "hash-b"}, f"12 random uids all hashed to one half: {owners}"
        assert proxy_a.metric("ctrlmesh_proxy_refused_requests_total") == 0
        assert proxy_b.metric("ctrlmesh_proxy_refused_requests_total") == 0
