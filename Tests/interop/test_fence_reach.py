"""Writes that reach past the object they name, from an independent attack on the fence: a
Namespace's labels move everything in it, a status write carries metadata, an eviction or a
binding acts on a pod, a CustomResourceDefinition rewrites every object of its resource, a
deletecollection sweeps other shards' leader locks, a write to a `/watch/` path sent the proxy
into a watch that never ended. And what goes upstream: only the headers the server reads."""
import http.client
import json
import socket
import time
import urllib.request

import pytest

from conftest import Proxy, Server, require_tool
from fake_upstream import FakeUpstream
from mesh_process import fnv1a64
from test_fence_hostile import HALF, SPEC, Rig, controller_ref, raw, request

REPLICASETS = "/apis/apps/v1/namespaces/team-b/replicasets"
RS_SPEC = SPEC.replace('- {apiGroups: [""], resources: [pods], key: object}',
                       '- {apiGroups: [""], resources: [pods], key: object}\n- {apiGroups: [apps], resources: [replicasets], key: object}')


@pytest.fixture
def rig(workdir):
    require_tool("kubectl")
    r = Rig(workdir)
    r.proxy.write_spec(RS_SPEC.replace("epoch: 1", "epoch: 2"))
    r.proxy.wait_applied(2)
    yield r
    r.stop()


def replicaset(rig, name, owner):
    return rig.direct.ok("POST", REPLICASETS, {
        "metadata": {"name": name, "ownerReferences": [controller_ref(owner)]},
        "spec": {"selector": {"matchLabels": {"a": name}}, "template": {"metadata": {"labels": {"a": name}},
                 "spec": {"containers": [{"name": "c", "image": "i"}]}}}})


@pytest.mark.parametrize("method,target", [
    ("DELETE", "/api/v1/watch/pods?dryRun=All"),
    ("DELETE", "/api/v1/watch/namespaces/team-b/pods"),
    ("DELETE", "/api/v1/watch/configmaps"),
    ("POST", "/api/v1/watch/namespaces/team-a/configmaps"),
    ("PUT", "/api/v1/watch/namespaces/team-b/pods/owned-pod"),
    ("HEAD", "/api/v1/namespaces/team-a/configmaps/own-cm"),
    ("HEAD", "/api/v1/namespaces/team-a/configmaps"),
    ("OPTIONS", "/api/v1/namespaces/team-a/configmaps"),
])
def test_a_resource_path_with_a_method_it_has_no_route_for_is_a_405_at_once(rig, method, target):
    for port in (rig.proxy.port, rig.server.port):
        started = time.monotonic()
        status, reply = request(port, method, target, b"{}" if method in ("POST", "PUT") else b"", timeout=10)
        assert status == 405 and time.monotonic() - started < 5, (port, reply[:300])
    assert rig.exists("/api/v1/namespaces/team-b/pods/owned-pod") and rig.exists("/api/v1/namespaces/team-b/pods/foreign-pod")
    # Nothing is left hanging: a spec change applies at once.
    rig.proxy.write_spec(RS_SPEC.replace("epoch: 1", "epoch: 3"))
    rig.proxy.wait_applied(3, timeout=5)


def test_the_proxys_own_reads_never_take_the_watch_form(rig):
    status, _ = request(rig.proxy.port, "GET", "/api/v1/watch/namespaces/team-a/configmaps?timeoutSeconds=1", timeout=10)
    assert status == 200
    # A deletecollection of object-keyed pods: listed, then deleted one by one (a dry run).
    assert rig.via.request("DELETE", "/api/v1/namespaces/team-b/pods?dryRun=All")[0] == 200
    verdict = rig.judgements()
    assert verdict["disagreed"] == 0 and verdict["agreed"] >= 3, verdict["disagreements"][:5]


def test_status_writes_are_judged_as_the_object_is(rig):
    replicaset(rig, "rs-owned", rig.owned_cs)
    status_path = f"{REPLICASETS}/rs-owned/status"
    # The server keeps metadata changed through a built-in kind's status: this would move it.
    current = rig.direct.ok("GET", f"{REPLICASETS}/rs-owned")
    current["metadata"]["labels"] = {"seen": "yes"}
    assert rig.direct.ok("PUT", status_path, current)["metadata"]["labels"] == {"seen": "yes"}
    current = rig.direct.ok("GET", f"{REPLICASETS}/rs-owned")
    current["metadata"]["ownerReferences"] = [controller_ref(rig.foreign_cs)]
    status, out = rig.via.request("PUT", status_path, current)
    assert status == 403 and "would move the object" in out["message"], out
    status, out = rig.via.request("PATCH", status_path, {"metadata": {"ownerReferences": [controller_ref(rig.foreign_cs)]}},
                                  content_type="application/merge-patch+json")
    assert status == 403, out
    assert rig.direct.ok("GET", f"{REPLICASETS}/rs-owned")["metadata"]["ownerReferences"][0]["uid"] == rig.owned_cs["metadata"]["uid"]
    # A status write that keeps the key passes.
    status, out = rig.via.request("PATCH", status_path, {"status": {"replicas": 0, "observedGeneration": 1}},
                                  content_type="application/merge-patch+json")
    assert status == 200, out


def test_evictions_and_bindings_act_only_on_owned_pods_and_legacy_bindings_are_refused(rig):
    pods = "/api/v1/namespaces/team-b/pods"
    status, out = rig.via.request("POST", f"{pods}/owned-pod/binding", {"apiVersion": "v1", "kind": "Binding",
                                                                        "metadata": {"name": "owned-pod"}, "target": {"name": "node-1"}})
    assert status == 201, out
    assert rig.direct.ok("GET", f"{pods}/owned-pod")["spec"]["nodeName"] == "node-1"
    for target in ("foreign-pod/binding", "foreign-pod/eviction"):
        status, out = rig.via.request("POST", f"{pods}/{target}", {"metadata": {"name": "foreign-pod"}, "target": {"name": "n"}})
        assert status == 403, (target, out)
    status, out = rig.via.request("POST", "/api/v1/namespaces/team-b/bindings",
                                  {"metadata": {"name": "foreign-pod"}, "target": {"name": "node-1"}})
    assert status == 403 and "pods/{name}/binding" in out["message"], out
    assert "nodeName" not in rig.direct.ok("GET", f"{pods}/foreign-pod")["spec"]
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "owned-pod"}}
    status, out = rig.via.request("POST", f"{pods}/owned-pod/eviction", {**eviction, "deleteOptions": {"propagationPolicy": "Orphan"}})
    assert status == 403 and "orphan" in out["message"], out
    status, out = rig.via.request("POST", f"{pods}/owned-pod/eviction", {**eviction, "deleteOptions": {"preconditions": {"uid": "another"}}})
    assert status == 409, out
    status, out = rig.via.request("POST", f"{pods}/owned-pod/eviction", eviction)
    assert status == 201 and out["status"] == "Success", out
    assert not rig.exists(f"{pods}/owned-pod") and rig.exists(f"{pods}/foreign-pod")


def test_a_definition_change_that_reaches_other_shards_objects_is_refused(rig):
    crd = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/clonesets.apps.kruise.io"
    status, out = rig.via.request("PATCH", crd, [{"op": "replace", "path": "/spec/versions/0/served", "value": False}],
                                  content_type="application/json-patch+json")
    assert status == 403 and "does to objects of other shards" in out["message"], out
    current = rig.direct.ok("GET", crd)
    current["spec"]["names"]["shortNames"] = ["gone"]
    assert rig.via.request("PUT", crd, current)[0] == 403
    assert rig.via.request("PATCH", crd, {"spec": {"scope": "Cluster"}}, content_type="application/merge-patch+json")[0] == 403
    status, out = rig.direct.request("PATCH", crd, {"spec": {"scope": "Cluster"}}, content_type="application/merge-patch+json")
    assert status == 422 and "immutable" in out["message"], out
    # Its metadata may change, pinned to the version judged.
    status, out = rig.via.request("PATCH", crd, {"metadata": {"annotations": {"rotated": "yes"}}}, content_type="application/merge-patch+json")
    assert status == 200, out
    assert rig.direct.ok("GET", crd)["spec"]["versions"][0]["served"] is True
    assert rig.via.request("GET", f"/apis/apps.kruise.io/v1alpha1/namespaces/team-b/clonesets/{rig.owned_cs['metadata']['name']}")[0] == 200


def test_a_deletecollection_leaves_other_shards_leader_locks(rig):
    leases = "/apis/coordination.k8s.io/v1/namespaces/team-a/leases"
    rig.direct.ok("POST", leases, {"metadata": {"name": "lock---shard-b"}, "spec": {"holderIdentity": "b-0"}})
    rig.direct.ok("POST", leases, {"metadata": {"name": "scratch"}, "spec": {}})
    rig.proxy.write_spec(RS_SPEC.replace("epoch: 1", "epoch: 3") + "leaderElection: {resource: leases, namespace: team-a, name: lock}\n")
    rig.proxy.wait_applied(3)
    status, out = rig.via.request("DELETE", f"{leases}?fieldSelector=metadata.name%3Dlock---shard-b")
    assert status == 200 and out["items"] == [], out
    status, out = rig.via.request("DELETE", leases)
    assert status == 200 and [i["metadata"]["name"] for i in out["items"]] == ["scratch"], out
    assert rig.exists(f"{leases}/lock---shard-b")
    status, out = rig.via.request("POST", leases, {"metadata": {"generateName": "lock---"}})
    assert status == 403, out


SELECTOR_SPEC = """shard: shard-b
epoch: 1
resources:
- {apiGroups: [""], resources: [secrets], key: namespace}
owned:
  namespaceSelectors: ["tier=gold"]
"""


@pytest.mark.parametrize("namespaces_sharded", [False, True])
def test_a_namespace_cannot_be_relabelled_into_or_out_of_the_shard(workdir, namespaces_sharded):
    spec = SELECTOR_SPEC.replace("resources: [secrets]", "resources: [secrets, namespaces]") if namespaces_sharded else SELECTOR_SPEC
    server = Server(workdir).start()
    proxy = Proxy(workdir, server.kubeconfig, spec=spec).start()
    try:
        from kube_http import Client
        direct, via = Client(server.url), Client(proxy.url)
        direct.ok("POST", "/api/v1/namespaces", {"metadata": {"name": "team-c", "labels": {"tier": "silver"}}})
        direct.ok("POST", "/api/v1/namespaces", {"metadata": {"name": "gold-1", "labels": {"tier": "gold"}}})
        direct.ok("POST", "/api/v1/namespaces/team-c/secrets", {"metadata": {"name": "c-secret"}, "stringData": {"k": "c"}})
        proxy.wait_applied(1)
        deadline = time.time() + 10
        while via.request("GET", "/api/v1/namespaces/gold-1/secrets/none")[0] != 404:  # its labels are known
            assert time.time() < deadline
            time.sleep(0.05)
        merge = "application/merge-patch+json"
        status, out = via.request("PATCH", "/api/v1/namespaces/team-c", {"metadata": {"labels": {"tier": "gold"}}}, content_type=merge)
        assert status == 403, out
        status, out = via.request("PATCH", "/api/v1/namespaces/gold-1", {"metadata": {"labels": {"tier": None}}}, content_type=merge)
        assert status == 403, out
        gold = direct.ok("GET", "/api/v1/namespaces/gold-1")
        gold["metadata"]["labels"] = {}
        assert via.request("PUT", "/api/v1/namespaces/gold-1/status", gold)[0] == 403
        # A label change that keeps an owned namespace owned passes.
        status, out = via.request("PATCH", "/api/v1/namespaces/gold-1", {"metadata": {"labels": {"team": "x"}}}, content_type=merge)
        assert status == 200 and out["metadata"]["labels"] == {"tier": "gold", "team": "x"}, out
        # Nor written at all by a shard that does not own what is in it (webhooks select by labels and annotations).
        status, _ = via.request("PATCH", "/api/v1/namespaces/team-c", {"metadata": {"annotations": {"a": "b"}}}, content_type=merge)
        assert status == 403
        assert direct.ok("GET", "/api/v1/namespaces/team-c")["metadata"]["labels"] == {"tier": "silver"}
        time.sleep(1)
        assert via.request("GET", "/api/v1/namespaces/team-c/secrets/c-secret")[0] == 403
    finally:
        proxy.kill()
        server.kill()


def owned_uid():
    return next(f"cs-{i}" for i in range(10_000) if fnv1a64(f"cs-{i}") < HALF)


def test_only_headers_the_server_reads_go_upstream_and_an_eviction_goes_pinned(workdir):
    upstream = FakeUpstream(workdir)
    proxy = Proxy(workdir, upstream.kubeconfig, spec=SPEC).start()
    try:
        proxy.wait_applied(1)
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": "p", "namespace": "team-b", "uid": "pod-uid", "resourceVersion": "41",
            "ownerReferences": [{"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet", "name": "c", "uid": owned_uid(), "controller": True}]}}
        upstream.routes["/api/v1/namespaces/team-b/pods/p"] = (200, "application/json", json.dumps(pod).encode())
        upstream.routes["/api/v1/namespaces/team-b/pods/p/eviction"] = (201, "application/json", b'{"kind":"Status","status":"Success","code":201}')
        upstream.routes["/api/v1/namespaces/team-a/configmaps/c"] = (200, "application/json", b'{"kind":"ConfigMap","metadata":{"name":"c","namespace":"team-a"}}')
        sent = {"X-HTTP-Method-Override": "DELETE", "X-Remote-User": "admin", "X-Remote-Group": "system:masters",
                "Forwarded": "for=1.2.3.4", "Impersonate-User": "alice", "User-Agent": "attacker/1", "Accept": "application/json"}
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        conn.request("GET", "/api/v1/namespaces/team-a/configmaps/c", headers=sent)
        response = conn.getresponse()
        assert response.status == 200 and response.read()
        _, _, headers = upstream.requests[-1]
        names = {k.lower() for k in headers}
        assert not names & {"x-http-method-override", "x-remote-user", "x-remote-group", "forwarded"}, headers
        assert headers.get("Impersonate-User") == "alice" and headers.get("User-Agent") == "attacker/1"
        conn.request("POST", "/api/v1/namespaces/team-b/pods/p/eviction", body=b'{"kind":"Eviction","metadata":{"name":"p"}}',
                     headers={"content-type": "application/json", "X-Remote-User": "admin"})
        response = conn.getresponse()
        assert response.status == 201 and response.read() and upstream.requests[-1][1].endswith("/eviction")
        forwarded = json.loads(upstream.bodies[-1])
        assert forwarded["deleteOptions"]["preconditions"] == {"uid": "pod-uid", "resourceVersion": "41"}, forwarded
        assert "x-remote-user" not in {k.lower() for k in upstream.requests[-1][2]}
        conn.request("POST", "/api/v1/namespaces/team-a/configmaps", body=b"\x1f\x8b", headers={"content-type": "application/json", "content-encoding": "gzip"})
        response = conn.getresponse()
        assert response.status == 415 and json.loads(response.read())["kind"] == "Status"
    finally:
        proxy.kill()
        upstream.stop()


def test_a_spec_file_cannot_take_the_epoch_back(rig):
    rig.proxy.write_spec(RS_SPEC.replace("team-a]", "team-a, team-b]"))
    deadline = time.time() + 10
    while "specError" not in rig.proxy.status() and time.time() < deadline:
        time.sleep(0.05)
    status = rig.proxy.status()
    assert status["appliedEpoch"] == 2 and "older than the applied epoch 2" in status["specError"], status
    assert rig.via.request("GET", "/api/v1/namespaces/team-b/secrets/foreign-secret")[0] == 403


def merge_patch(client, path, patch):
    return client.request("PATCH", path, patch, content_type="application/merge-patch+json")


def test_a_namespace_or_definition_cannot_be_given_an_owner_the_shard_could_delete(rig):
    """The garbage collector deletes an object whose owners are gone: an owner the shard made
    itself, set on a Namespace or a CRD, would let it delete everything in them. And all else
    about a namespace reaches what is in it too: its labels, its finalizers, its status."""
    role = rig.via.ok("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", {"metadata": {"name": "owner-x"}, "rules": []})
    owner = [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "name": "owner-x", "uid": role["metadata"]["uid"]}]
    crd = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/clonesets.apps.kruise.io"
    # Pods are keyed by object and half owned: no namespace is wholly this shard's.
    for path in ("/api/v1/namespaces/team-b", "/api/v1/namespaces/team-a", crd):
        status, out = merge_patch(rig.via, path, {"metadata": {"ownerReferences": owner}})
        assert status == 403 and ("reaches every object" in out["message"] or "other shards" in out["message"]), (path, out)
        current = rig.direct.ok("GET", path)
        current["metadata"]["ownerReferences"] = owner
        assert rig.via.request("PUT", path, current)[0] == 403, path
    for patch in ({"metadata": {"labels": {"frozen": "true"}}}, {"metadata": {"annotations": {"a": "b"}}}, {"metadata": {"finalizers": ["x/y"]}}):
        assert merge_patch(rig.via, "/api/v1/namespaces/team-b", patch)[0] == 403, patch
    # A phase of Terminating would stop every create in the namespace; finalize ends it.
    for subresource in ("status", "finalize"):
        current = rig.direct.ok("GET", "/api/v1/namespaces/team-b")
        current["status"] = {"phase": "Terminating"}
        status, out = rig.via.request("PUT", f"/api/v1/namespaces/team-b/{subresource}", current)
        assert status == 403 and "reaches every object in it" in out["message"], out
    assert merge_patch(rig.via, "/api/v1/namespaces/team-b/status", {"status": {"phase": "Terminating"}})[0] == 403
    # Nor can a namespace be born with an owner; without one it can.
    for name in ("team-c", None):
        meta = {"name": name} if name else {"generateName": "team-"}
        status, out = rig.via.request("POST", "/api/v1/namespaces", {"metadata": {**meta, "ownerReferences": owner}})
        assert status == 403 and "born with ownerReferences" in out["message"], out
    namespace = protobuf_field(1, protobuf_field(1, b"team-c") + protobuf_field(13, protobuf_field(1, b"ClusterRole") + protobuf_field(
        3, b"owner-x") + protobuf_field(4, role["metadata"]["uid"].encode()) + protobuf_field(5, b"rbac.authorization.k8s.io/v1")))
    body = b"k8s\x00" + protobuf_field(1, protobuf_field(1, b"v1") + protobuf_field(2, b"Namespace")) + protobuf_field(2, namespace)
    status, reply = request(rig.proxy.port, "POST", "/api/v1/namespaces", body, headers=[("content-type", "application/vnd.kubernetes.protobuf")])
    assert status == 403 and b"born with ownerReferences" in reply, reply[:300]
    assert not rig.exists("/api/v1/namespaces/team-c")
    assert rig.via.request("POST", "/api/v1/namespaces", {"metadata": {"name": "team-c"}})[0] == 201
    assert rig.via.request("DELETE", "/apis/rbac.authorization.k8s.io/v1/clusterroles/owner-x")[0] == 200
    time.sleep(1)
    assert rig.exists("/api/v1/namespaces/team-b") and rig.exists(crd)
    assert rig.exists("/api/v1/namespaces/team-b/configmaps/foreign-cm")


def test_admission_webhooks_are_out_of_reach_of_a_shard_that_does_not_own_everything(rig):
    hooks = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"
    hook = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration", "metadata": {"name": "op"},
            "webhooks": [{"name": "op.example.com", "admissionReviewVersions": ["v1"], "sideEffects": "None", "failurePolicy": "Ignore",
                          "clientConfig": {"url": "https://127.0.0.1:1/m", "caBundle": "QUJD"},
                          "rules": [{"apiGroups": ["apps.kruise.io"], "apiVersions": ["*"], "operations": ["CREATE"],
                                     "resources": ["clonesets"], "scope": "*"}]}]}
    status, out = rig.via.request("POST", hooks, hook)
    assert status == 403 and "reaches objects of every shard" in out["message"], out
    assert not rig.exists(f"{hooks}/op")
    rig.direct.ok("POST", hooks, hook)
    # An operator rotating its serving certificate may set the CA bundle, nothing more.
    status, out = rig.via.request("PATCH", f"{hooks}/op", [{"op": "replace", "path": "/webhooks/0/clientConfig/caBundle", "value": "REVG"}],
                                  content_type="application/json-patch+json")
    assert status == 200 and out["webhooks"][0]["clientConfig"]["caBundle"] == "REVG", out
    status, out = rig.via.request("PATCH", f"{hooks}/op", [{"op": "replace", "path": "/webhooks/0/rules/0/resources", "value": ["*"]}],
                                  content_type="application/json-patch+json")
    assert status == 403, out
    assert rig.via.request("DELETE", f"{hooks}/op")[0] == 403 and rig.via.request("DELETE", hooks)[0] == 403
    assert rig.via.ok("GET", f"{hooks}/op")["webhooks"][0]["rules"][0]["resources"] == ["clonesets"]


def protobuf_field(number, payload):
    length, prefix = len(payload), b""
    while length >= 0x80:
        prefix += bytes([length & 0x7F | 0x80])
        length >>= 7
    return bytes([number << 3 | 2]) + prefix + bytes([length]) + payload


def test_a_protobuf_create_cannot_name_another_shards_lock_by_prefix(rig):
    leases = "/apis/coordination.k8s.io/v1/namespaces/team-a/leases"
    rig.proxy.write_spec(RS_SPEC.replace("epoch: 1", "epoch: 3") + "leaderElection: {resource: leases, namespace: team-a, name: lock}\n")
    rig.proxy.wait_applied(3)
    lease = protobuf_field(1, protobuf_field(2, b"lock---")) + protobuf_field(2, protobuf_field(1, b"evil"))
    body = b"k8s\x00" + protobuf_field(1, protobuf_field(1, b"coordination.k8s.io/v1") + protobuf_field(2, b"Lease")) + protobuf_field(2, lease)
    status, reply = request(rig.proxy.port, "POST", leases, body, headers=[("content-type", "application/vnd.kubernetes.protobuf")])
    assert status == 403 and b"leader-election lock" in reply, reply[:300]
    assert rig.direct.ok("GET", leases)["items"] == []


def test_every_write_through_a_subresource_is_in_the_audit(rig):
    pods = "/api/v1/namespaces/team-b/pods"
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "owned-pod"}, "target": {"name": "node-1"}}
    assert rig.via.request("POST", f"{pods}/owned-pod/binding", binding)[0] == 201
    assert rig.via.request("POST", f"{pods}/owned-pod/eviction", {"apiVersion": "policy/v1", "kind": "Eviction",
                                                                  "metadata": {"name": "owned-pod"}})[0] == 201
    with urllib.request.urlopen(f"{rig.server.url}/debug/ctrlmesh/writes", timeout=10) as r:
        writes = [w for w in json.load(r)["items"] if w["name"] == "owned-pod" and w["resource"] == "pods"]
    assert [w["type"] for w in writes] == ["MODIFIED", "DELETED"] and {w["shard"] for w in writes} == {"shard-a"}, writes


def test_a_watch_timeout_of_any_size_is_served(rig):
    for port in (rig.proxy.port, rig.server.port):
        reply = raw(port, b"GET /api/v1/namespaces/team-a/configmaps?watch=1&timeoutSeconds=9223372036854775807 HTTP/1.1\r\n"
                          b"Host: x\r\n\r\n", timeout=1)
        assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    assert rig.direct.ok("GET", "/api/v1/namespaces/team-a/configmaps/own-cm")["data"] == {"k": "v"}


def test_past_its_in_flight_limit_the_proxy_answers_429(workdir):
    server = Server(workdir).start()
    proxy = Proxy(workdir, server.kubeconfig, spec=SPEC, extra=["--max-in-flight", "2"]).start()
    try:
        proxy.wait_applied(1)
        watch = b"GET /api/v1/namespaces/team-a/configmaps?watch=1 HTTP/1.1\r\nHost: x\r\n\r\n"
        held = []
        for _ in range(2):
            s = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
            s.sendall(watch)
            assert s.recv(100).startswith(b"HTTP/1.1 200")
            held.append(s)
        status, reply = request(proxy.port, "GET", "/api/v1/namespaces/team-a/configmaps")
        head, body = reply.split(b"\r\n\r\n", 1)
        assert status == 429 and json.loads(body)["reason"] == "TooManyRequests", reply
        assert b"\r\nretry-after: 1\r\n" in head.lower() + b"\r\n", head
        for s in held:
            s.close()
        deadline = time.time() + 10
        while request(proxy.port, "GET", "/api/v1/namespaces/team-a/configmaps")[0] != 200:
            assert time.time() < deadline, "the places held by closed watches never came back"
            time.sleep(0.1)
    finally:
        proxy.kill()
        server.kill()


def test_a_namespace_regex_costs_linear_time_whatever_the_namespace(workdir):
    spec = "shard: s\nepoch: 1\nresources:\n- {apiGroups: [\"\"], resources: [configmaps], key: namespace}\n" \
           "owned:\n  namespaceRegexes: ['^(a+)+$']\n"
    server = Server(workdir).start()
    proxy = Proxy(workdir, server.kubeconfig, spec=spec).start()
    try:
        proxy.wait_applied(1)
        started = time.monotonic()
        status, _ = request(proxy.port, "GET", "/api/v1/namespaces/" + "a" * 62 + "b/configmaps/x", timeout=10)
        assert status == 403 and time.monotonic() - started < 5
        status, _ = request(proxy.port, "GET", "/api/v1/namespaces/" + "a" * 63 + "/configmaps/x", timeout=10)
        assert status == 404
    finally:
        proxy.kill()
        server.kill()
