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
