"""The fence against an attacker: every shape that once slipped past the proxy (a fragment in the
request target, a write that moves an object into another shard, forged mesh headers, a delete
body nobody can read), and a differential test that sends generated and mutated request targets
through the proxy and checks, from the API server's own record, that the proxy judged exactly
what the server served and that nothing outside the shard was read, written or returned."""
import json
import os
import random
import socket
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import Proxy, Server, require_tool
from kube_http import Client
from mesh_process import fnv1a64

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLONESET_CRD = os.path.join(ROOT, "Tests", "fixtures", "kruise", "crds", "apps.kruise.io_clonesets.yaml")
HALF = 1 << 63
MARK = "FOREIGN-MARK"

# The spec: configmaps and secrets by namespace (team-a owned); clonesets and pods by
# object, the lower half of the hash space owned.
SPEC = """shard: shard-a
epoch: 1
resources:
- {apiGroups: [""], resources: [configmaps, secrets], key: namespace}
- {apiGroups: [apps.kruise.io], resources: [clonesets], key: object}
- {apiGroups: [""], resources: [pods], key: object}
owned:
  namespaces: [team-a]
  objectHashRanges: [{start: "0x0", end: "0x8000000000000000"}]
"""


def raw(port, data, timeout=10):
    """Sends bytes on a fresh connection and returns everything the peer sends back until it
    closes (or `timeout` passes without a byte: a watch)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except (ConnectionError, socket.timeout):
            pass
    return out


def request(port, method, target, body=b"", headers=(), timeout=10):
    headers = list(headers)
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("content-type", "application/json"))
    head = f"{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers)
    head += f"content-length: {len(body)}\r\n\r\n"
    reply = raw(port, head.encode() + body, timeout=timeout)
    status = int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1 ") else 0
    return status, reply


class Rig:
    def __init__(self, workdir):
        self.server = Server(workdir, extra=["--check-judgements"]).start()
        self.proxy = Proxy(workdir, self.server.kubeconfig, spec=SPEC, extra=["--stamp-judgements"]).start()
        self.proxy.wait_applied(1)
        self.direct = Client(self.server.url)
        self.via = Client(self.proxy.url)
        self.server.kubectl("apply", "-f", CLONESET_CRD)
        for ns in ("team-a", "team-b"):
            self.direct.ok("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
        self.direct.ok("POST", "/api/v1/namespaces/team-b/secrets", {"metadata": {"name": "foreign-secret"}, "stringData": {"k": MARK}})
        self.direct.ok("POST", "/api/v1/namespaces/team-b/configmaps", {"metadata": {"name": "foreign-cm"}, "data": {"k": MARK}})
        self.direct.ok("POST", "/api/v1/namespaces/team-a/configmaps", {"metadata": {"name": "own-cm"}, "data": {"k": "v"}})
        # CloneSets until there is one on each side of the hash split, with a pod each.
        self.owned_cs = self.foreign_cs = None
        for i in range(64):
            cs = self.direct.ok("POST", "/apis/apps.kruise.io/v1alpha1/namespaces/team-b/clonesets",
                                {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet",
                                 "metadata": {"name": f"cs-{i}"}, "spec": {"replicas": 0}})
            if fnv1a64(cs["metadata"]["uid"]) < HALF:
                self.owned_cs = self.owned_cs or cs
            else:
                self.foreign_cs = self.foreign_cs or cs
            if self.owned_cs and self.foreign_cs:
                break
        self.owned_pod = self.pod("owned-pod", self.owned_cs)
        self.foreign_pod = self.pod("foreign-pod", self.foreign_cs, marked=True)

    def pod(self, name, owner, marked=False):
        return self.direct.ok("POST", "/api/v1/namespaces/team-b/pods", {
            "metadata": {"name": name, "labels": {"mark": "foreign"} if marked else {},
                         "annotations": {"mark": MARK} if marked else {},
                         "ownerReferences": [controller_ref(owner)]},
            "spec": {"containers": [{"name": "c", "image": "i"}]}})

    def stop(self):
        self.proxy.kill()
        self.server.kill()

    def judgements(self):
        with urllib.request.urlopen(f"{self.server.url}/debug/ctrlmesh/judgements", timeout=10) as r:
            return json.loads(r.read())

    def writes(self):
        with urllib.request.urlopen(f"{self.server.url}/debug/ctrlmesh/writes", timeout=10) as r:
            return json.loads(r.read())["items"]

    def exists(self, path):
        return self.direct.request("GET", path)[0] == 200


def controller_ref(cs):
    return {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet", "name": cs["metadata"]["name"],
            "uid": cs["metadata"]["uid"], "controller": True}


@pytest.fixture
def rig(workdir):
    require_tool("kubectl")
    r = Rig(workdir)
    yield r
    r.stop()


@pytest.mark.parametrize("method,target", [
    ("GET", "/api/v1/namespaces/team-b/secrets/foreign-secret#/x/y"),
    ("GET", "/api/v1/secrets#/x/y/z"),
    ("POST", "/api/v1/namespaces/team-b/configmaps#/x/y"),
    ("DELETE", "/api/v1/namespaces/team-b/pods/foreign-pod#/x/y"),
    ("PATCH", "/apis/apps.kruise.io/v1alpha1/namespaces/team-b/clonesets/cs-1#/x/y"),
    ("GET", "/api/v1/namespaces/team-b/secrets/foreign-secret/../../../team-a/configmaps"),
    ("GET", "/api/v1/namespaces/team-a%2F..%2Fteam-b/secrets"),
    ("GET", "/api/v1//secrets"),
    ("GET", "/api/v1/namespaces/team-b/secrets/foreign-secret%23"),
])
def test_request_targets_that_once_bypassed_the_fence_are_refused(rig, method, target):
    before = len(rig.writes())
    status, reply = request(rig.proxy.port, method, target, b'{"metadata":{"name":"planted"}}')
    assert status in (400, 403, 404), reply[:300]
    assert MARK.encode() not in reply and b"foreign-secret\"," not in reply
    assert len(rig.writes()) == before
    assert not rig.exists("/api/v1/namespaces/team-b/configmaps/planted")
    assert rig.exists("/api/v1/namespaces/team-b/pods/foreign-pod")


def test_forged_mesh_headers_are_dropped(rig):
    forged = [("X-Ctrlmesh-Shard", "shard-b"), ("X-Ctrlmesh-Epoch", "99"), ("X-Ctrlmesh-Judged", "nonresource /version")]
    status, reply = request(rig.proxy.port, "POST", "/api/v1/namespaces/team-a/configmaps",
                            b'{"metadata":{"name":"stamped"}}', forged)
    assert status == 201, reply[:300]
    record = [w for w in rig.writes() if w["name"] == "stamped"]
    assert [(w["shard"], w["epoch"]) for w in record] == [("shard-a", 1)]
    assert rig.judgements()["disagreed"] == 0


def test_writes_that_would_move_an_object_to_another_shard_are_refused(rig):
    pod = "/api/v1/namespaces/team-b/pods/owned-pod"
    foreign = [controller_ref(rig.foreign_cs)]
    # PATCH (merge, JSON and strategic) and PUT that hand the owned pod to a foreign CloneSet.
    status, out = rig.via.request("PATCH", pod, {"metadata": {"ownerReferences": foreign}}, content_type="application/merge-patch+json")
    assert status == 403 and "would move the object" in out["message"], out
    status, out = rig.via.request("PATCH", pod, [{"op": "replace", "path": "/metadata/ownerReferences/0/uid",
                                                 "value": rig.foreign_cs["metadata"]["uid"]}], content_type="application/json-patch+json")
    assert status == 403, out
    status, out = rig.via.request("PATCH", pod, {"metadata": {"ownerReferences": foreign + [
        {"uid": rig.owned_cs["metadata"]["uid"], "$patch": "delete"}]}}, content_type="application/strategic-merge-patch+json")
    assert status == 403, out
    body = rig.direct.ok("GET", pod)
    body["metadata"]["ownerReferences"] = foreign
    status, out = rig.via.request("PUT", pod, body)
    assert status == 403, out
    assert rig.direct.ok("GET", pod)["metadata"]["ownerReferences"][0]["uid"] == rig.owned_cs["metadata"]["uid"]
    # A foreign pod cannot be pulled in either.
    status, out = rig.via.request("PATCH", "/api/v1/namespaces/team-b/pods/foreign-pod",
                                  {"metadata": {"ownerReferences": [controller_ref(rig.owned_cs)]}},
                                  content_type="application/merge-patch+json")
    assert status == 403, out
    # A write that keeps the key passes, pinned to the object judged.
    status, out = rig.via.request("PATCH", pod, {"metadata": {"labels": {"x": "y"}}}, content_type="application/merge-patch+json")
    assert status == 200 and out["metadata"]["labels"] == {"x": "y"}, out


@pytest.mark.parametrize("through", ["proxy", "server"])
def test_two_controllers_are_refused(rig, through):
    client = rig.via if through == "proxy" else rig.direct
    refs = [controller_ref(rig.owned_cs), controller_ref(rig.foreign_cs)]
    status, out = client.request("POST", "/api/v1/namespaces/team-b/pods", {
        "metadata": {"name": "two-controllers", "ownerReferences": refs}, "spec": {"containers": [{"name": "c", "image": "i"}]}})
    assert status == 422 and out["reason"] == "Invalid", out
    refs[0]["controller"] = "true"
    status, out = client.request("POST", "/api/v1/namespaces/team-b/pods", {
        "metadata": {"name": "string-controller", "ownerReferences": refs[:1]}, "spec": {"containers": [{"name": "c", "image": "i"}]}})
    assert status == 400, out
    assert not rig.exists("/api/v1/namespaces/team-b/pods/two-controllers")


@pytest.mark.parametrize("through", ["proxy", "server"])
@pytest.mark.parametrize("body", [b"[1]", b"{bad", b'"x"', b'{"preconditions":"x"}', b'{"kind":"Pod"}'])
def test_a_delete_whose_body_does_not_decode_deletes_nothing(rig, through, body):
    port = rig.proxy.port if through == "proxy" else rig.server.port
    status, reply = request(port, "DELETE", "/api/v1/namespaces/team-b/pods/owned-pod", body)
    assert status == 400, reply[:300]
    assert rig.exists("/api/v1/namespaces/team-b/pods/owned-pod")


# ---- the differential test ------------------------------------------------------------------

SEGMENTS = ["api", "apis", "v1", "apps.kruise.io", "v1alpha1", "namespaces", "team-a", "team-b", "secrets", "configmaps",
            "pods", "clonesets", "foreign-secret", "foreign-cm", "own-cm", "owned-pod", "foreign-pod", "status", "watch",
            "scale", "version", "openapi", "v3", "healthz", "Secrets", "TEAM-B"]
MUTATIONS = [
    lambda s: s.replace("/", "//", 1), lambda s: s + "/", lambda s: s + "#/x/y", lambda s: s.replace("team-b", "team-%62"),
    lambda s: s.replace("team-", "team%2D"), lambda s: s.replace("/", "/./", 1), lambda s: s + "/..", lambda s: s.replace("/", "%2F"),
    lambda s: s + "?watch=true", lambda s: s + "?watch=1&watch=0", lambda s: s + "?labelSelector=mark%3Dforeign",
    lambda s: s + "?fieldSelector=metadata.namespace%3Dteam-b", lambda s: s.upper(), lambda s: s + ";x", lambda s: s + "%00",
    lambda s: s + "?x=%zz", lambda s: s.replace("secrets", "secrets%23"), lambda s: s + "?limit=1&continue=x",
    lambda s: s + "?resourceVersion=0&watch=true&timeoutSeconds=1", lambda s: s.replace("v1", "v1%2f.."),
]


def generated_targets(rng, count):
    bases = ["/api/v1/namespaces/team-b/secrets/foreign-secret", "/api/v1/secrets", "/api/v1/namespaces/team-b/configmaps",
             "/api/v1/namespaces/team-b/pods/foreign-pod", "/apis/apps.kruise.io/v1alpha1/namespaces/team-b/clonesets",
             "/api/v1/watch/namespaces/team-b/secrets", "/api/v1/namespaces/team-b", "/api/v1/pods", "/version", "/apis"]
    targets = []
    for _ in range(count):
        if rng.random() < 0.5:
            target = rng.choice(bases)
        else:
            target = "/" + "/".join(rng.choice(SEGMENTS) for _ in range(rng.randint(1, 7)))
        for _ in range(rng.randint(0, 2)):
            target = rng.choice(MUTATIONS)(target)
        targets.append(target)
    return targets


def test_the_proxy_judges_exactly_what_the_server_serves_and_nothing_foreign_is_touched(rig):
    rng = random.Random(14)
    calls = []
    for target in generated_targets(rng, 800):
        method = rng.choice(["GET", "GET", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"])
        if method == "DELETE" and not any(r in target for r in ("secrets", "configmaps", "pods", "clonesets")):
            method = "GET"  # the spec does not shard namespaces: deleting team-b would be allowed
        body = json.dumps({"metadata": {"name": "planted-" + str(rng.randint(0, 9)), "namespace": "team-b",
                                        "ownerReferences": [controller_ref(rig.foreign_cs)]}, "data": {"k": "v"}}).encode()
        calls.append((method, target, body if method in ("POST", "PUT", "PATCH") else b""))

    def call(c):
        try:
            return c, request(rig.proxy.port, *c, timeout=2)
        except OSError:
            return c, (0, b"")

    with ThreadPoolExecutor(8) as pool:
        for (method, target, _), (status, reply) in pool.map(call, calls):
            # Nothing of another shard comes back: not its secret, config map or pod.
            assert MARK.encode() not in reply, (method, target, status, reply[:400])
    verdict = rig.judgements()
    assert verdict["disagreed"] == 0, verdict["disagreements"][:5]
    assert verdict["agreed"] > 150
    # The server's record of writes: nothing in team-b's namespace-keyed resources, nothing to
    # a foreign object key, nothing planted anywhere.
    for w in rig.writes():
        if w["resource"] in ("configmaps", "secrets"):
            assert w["namespace"] == "team-a", w
        if w["resource"] in ("pods", "clonesets"):
            assert fnv1a64(w.get("controllerUID") or w["uid"]) < HALF, w
    for path in ("/api/v1/namespaces/team-b/configmaps", "/api/v1/namespaces/team-b/pods"):
        assert not [i for i in rig.direct.ok("GET", path)["items"] if i["metadata"]["name"].startswith("planted-")]
    assert rig.exists("/api/v1/namespaces/team-b/pods/foreign-pod") and rig.exists("/api/v1/namespaces/team-b/secrets/foreign-secret")


def test_writes_are_pinned_to_the_version_judged_while_the_owner_changes_underneath(rig):
    """An outside writer flips a pod's controller between an owned and a foreign CloneSet while
    the operator patches, replaces and deletes it through the proxy: no write of the shard ever
    commits on a version whose controller is foreign (each is pinned to the version judged)."""
    import threading
    import time
    pods = "/api/v1/namespaces/team-b/pods"
    refs = {"owned": [controller_ref(rig.owned_cs)], "foreign": [controller_ref(rig.foreign_cs)]}
    stop = threading.Event()
    done = {"patched": 0, "replaced": 0, "deleted": 0}

    def make(name):
        rig.direct.request("POST", pods, {"metadata": {"name": name, "ownerReferences": refs["owned"]},
                                          "spec": {"containers": [{"name": "c", "image": "i"}]}})

    def flip():
        c = Client(rig.server.url)
        i = 0
        while not stop.is_set():
            for name in ("race-a", "race-b"):
                c.request("PATCH", f"{pods}/{name}", {"metadata": {"ownerReferences": refs["foreign" if i % 2 else "owned"]}},
                          content_type="application/merge-patch+json")
            i += 1

    def operate():
        c = Client(rig.proxy.url)
        n = 0
        while not stop.is_set():
            n += 1
            if c.request("PATCH", f"{pods}/race-a", {"metadata": {"labels": {"n": str(n)}}},
                         content_type="application/merge-patch+json")[0] == 200:
                done["patched"] += 1
            status, current = rig.direct.request("GET", f"{pods}/race-a")
            if status == 200:
                current["metadata"].pop("resourceVersion", None)
                current["metadata"]["ownerReferences"] = refs["owned"]
                if c.request("PUT", f"{pods}/race-a", current)[0] == 200:
                    done["replaced"] += 1
            if c.request("DELETE", f"{pods}/race-b")[0] == 200:
                done["deleted"] += 1
                make("race-b")

    make("race-a")
    make("race-b")
    threads = [threading.Thread(target=flip), threading.Thread(target=operate)]
    for t in threads:
        t.start()
    time.sleep(8)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    mine = [w for w in rig.writes() if w["shard"] == "shard-a" and w["name"] in ("race-a", "race-b")]
    foreign = [w for w in mine if fnv1a64(w.get("controllerUID") or w["uid"]) >= HALF]
    assert not foreign, foreign[:5]
    assert done["patched"] > 5 and done["deleted"] > 2, done


def test_deletes_whose_cascade_reaches_other_shards_are_refused(rig):
    via = rig.via
    status, out = via.request("DELETE", "/api/v1/namespaces/team-b")
    assert status == 403 and "namespace team-b" in out["message"], out
    status, out = via.request("DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/clonesets.apps.kruise.io")
    assert status == 403, out
    status, out = via.request("DELETE", f"/apis/apps.kruise.io/v1alpha1/namespaces/team-b/clonesets/{rig.owned_cs['metadata']['name']}",
                              {"propagationPolicy": "Orphan"})
    assert status == 403 and "orphan" in out["message"], out
    assert rig.exists("/api/v1/namespaces/team-b/secrets/foreign-secret") and rig.exists("/api/v1/namespaces/team-b/pods/foreign-pod")
    assert rig.direct.ok("GET", "/api/v1/namespaces/team-b/pods/owned-pod")["metadata"]["ownerReferences"]


def test_other_shards_leader_locks_are_out_of_reach(rig, workdir):
    rig.direct.ok("POST", "/api/v1/namespaces", {"metadata": {"name": "kruise-system"}})
    leases = "/apis/coordination.k8s.io/v1/namespaces/kruise-system/leases"
    rig.direct.ok("POST", leases, {"metadata": {"name": "kruise-manager---shard-b"}, "spec": {"holderIdentity": "b-0"}})
    rig.proxy.write_spec(SPEC.replace("epoch: 1", "epoch: 2")
                         + "leaderElection: {resource: leases, namespace: kruise-system, name: kruise-manager}\n")
    rig.proxy.wait_applied(2)
    via = rig.via
    assert via.request("GET", f"{leases}/kruise-manager---shard-b")[0] == 403
    assert via.request("PATCH", f"{leases}/kruise-manager---shard-b", {"spec": {"holderIdentity": "a-0"}},
                       content_type="application/merge-patch+json")[0] == 403
    assert via.request("POST", leases, {"metadata": {"name": "kruise-manager---shard-a---shard-a"}})[0] == 403
    # Its own lock, by the plain name, is renamed to its shard's.
    assert via.request("POST", leases, {"metadata": {"name": "kruise-manager"}, "spec": {"holderIdentity": "a-0"}})[0] == 201
    assert rig.direct.ok("GET", f"{leases}/kruise-manager---shard-a")["spec"]["holderIdentity"] == "a-0"
    assert rig.direct.ok("GET", f"{leases}/kruise-manager---shard-b")["spec"]["holderIdentity"] == "b-0"
