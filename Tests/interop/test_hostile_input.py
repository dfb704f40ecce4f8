"""Inputs that once took a component down or that clients could not read back: each is refused
where it comes in, the component answers afterwards, and nothing it acknowledged is lost."""
import json
import os
import subprocess
import time
import urllib.request

import pytest

from conftest import BINARY, Proxy, Server, require_tool, wait_until
from kube_http import Client
from test_fence_hostile import SPEC, request

# 2 KB of YAML that nests aliases ten deep: about 10^10 values once expanded.
BOMB = "a0: &a0 [" + ", ".join(["x"] * 10) + "]\n" + "".join(
    f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n" for i in range(1, 11))


@pytest.fixture
def api(workdir):
    require_tool("kubectl")
    s = Server(workdir).start()
    s.http = Client(s.url)
    s.http.ok("POST", "/api/v1/namespaces", {"metadata": {"name": "team-a"}})
    yield s
    s.kill()


def healthy(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
        return r.read() == b"ok"


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0


@pytest.mark.parametrize("through", ["server", "proxy"])
def test_a_self_copying_json_patch_stops_at_the_copy_limit(api, workdir, through):
    proxy = None
    port = api.port
    if through == "proxy":
        proxy = Proxy(workdir, api.kubeconfig, spec=SPEC).start()
        proxy.wait_applied(1)
        port = proxy.port
    try:
        api.http.ok("POST", "/api/v1/namespaces/team-a/configmaps", {"metadata": {"name": "target"}})
        ops = [{"op": "add", "path": "/data", "value": {"a": ["x" * 1000]}}] + [
            {"op": "copy", "from": "/data/a", "path": "/data/a/-"} for _ in range(30)]
        status, reply = request(port, "PATCH", "/api/v1/namespaces/team-a/configmaps/target", json.dumps(ops).encode(),
                                headers=[("content-type", "application/json-patch+json")])
        assert status in (413, 422), reply[:300]
        assert healthy(api.port)
        assert "a" not in (api.http.ok("GET", "/api/v1/namespaces/team-a/configmaps/target").get("data") or {})
    finally:
        if proxy:
            proxy.kill()


def test_an_object_above_the_store_limit_is_refused(api):
    secrets = "/api/v1/namespaces/team-a/secrets"
    api.http.ok("POST", secrets, {"metadata": {"name": "big"}, "data": {f"k{i}": "eHh4" * 250 for i in range(1000)}})
    status, out = api.http.request("PATCH", f"{secrets}/big", {"data": {f"b{i}": "eHh4" * 200 for i in range(1000)}},
                                   content_type="application/merge-patch+json")
    assert (status, out["reason"]) == (413, "RequestEntityTooLarge"), out
    assert len(api.http.ok("GET", f"{secrets}/big")["data"]) == 1000


@pytest.mark.parametrize("literal", [b"1e999999", b"9" * 100_000, b"-9223372036854775809"], ids=["huge-float", "100k-digits", "below-int64"])
def test_numbers_no_client_can_decode_are_refused_and_the_namespace_still_lists(api, literal):
    status, reply = request(api.port, "POST", "/apis/coordination.k8s.io/v1/namespaces/team-a/leases",
                            b'{"metadata":{"name":"n"},"spec":{"leaseDurationSeconds":' + literal + b"}}")
    assert status == 400, reply[:300]
    from kubernetes import client, config
    core = client.CoordinationV1Api(config.new_client_from_config(config_file=api.kubeconfig))
    assert core.list_namespaced_lease("team-a").items == []
    assert json.loads(api.kubectl("get", "leases", "-n", "team-a", "-o", "json").stdout)["items"] == []


CMS = "/api/v1/namespaces/team-a/configmaps"


def annotations_over_256_kib(h):
    status, out = h.request("POST", CMS, {"metadata": {"name": "notes", "annotations": {"a": "x" * (300 * 1024)}}})
    assert (status, out["reason"]) == (422, "Invalid") and "metadata.annotations" in out["message"], out


def configmap_data_of_another_type(h):
    status, out = h.request("POST", CMS, {"metadata": {"name": "typed"}, "data": {"a": 1}})
    assert (status, out["reason"]) == (400, "BadRequest"), out


def controller_as_a_string(h):
    status, out = h.request("POST", CMS, {"metadata": {"name": "c", "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "u", "controller": "true"}]}})
    assert status == 400, out


def options_that_do_not_parse(h):
    for query, code in [("limit=abc", 400), ("timeoutSeconds=abc", 400), ("watch=true&timeoutSeconds=abc", 400)]:
        assert h.request("GET", f"{CMS}?{query}")[0] == code, query
    # A negative limit is no limit, as the real store reads it.
    assert h.request("GET", f"{CMS}?limit=-1")[0] == 200


def an_unknown_field_validation(h):
    status, out = h.request("POST", f"{CMS}?fieldValidation=Zzz", {"metadata": {"name": "v"}})
    assert (status, out["reason"]) == (422, "Invalid") and "fieldValidation" in out["message"], out


def a_pointer_escape_other_than_0_and_1(h):
    h.ok("POST", CMS, {"metadata": {"name": "p"}, "data": {"a": "1"}})
    status, out = h.request("PATCH", f"{CMS}/p", [{"op": "add", "path": "/data/a~2b", "value": "x"}], content_type="application/json-patch+json")
    assert status == 400, out


def a_top_level_patch_delete(h):
    h.ok("POST", CMS, {"metadata": {"name": "d"}, "data": {"a": "1"}})
    status, out = h.request("PATCH", f"{CMS}/d", {"$patch": "delete"}, content_type="application/strategic-merge-patch+json")
    assert status == 422 and h.ok("GET", f"{CMS}/d")["data"] == {"a": "1"}, out


def secret_string_data(h):
    secret = h.ok("POST", "/api/v1/namespaces/team-a/secrets", {"metadata": {"name": "s"}, "data": {"a": "MQ=="}, "stringData": {"b": "two"}})
    assert secret["data"] == {"a": "MQ==", "b": "dHdv"} and "stringData" not in secret, secret


def names_longer_than_63(h):
    assert h.request("POST", CMS, {"metadata": {"name": "a" * 100}})[0] == 201
    assert h.request("POST", CMS, {"metadata": {"name": "a" * 254}})[0] == 422


def a_self_owning_object_deleted_in_the_foreground(h):
    own = h.ok("POST", CMS, {"metadata": {"name": "self"}})
    h.ok("PATCH", f"{CMS}/self", {"metadata": {"ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "self",
                                                                     "uid": own["metadata"]["uid"]}]}}, content_type="application/merge-patch+json")
    h.ok("DELETE", f"{CMS}/self", {"propagationPolicy": "Foreground"})
    wait_until(lambda: h.request("GET", f"{CMS}/self")[0] == 404, timeout=10, what="the self-owning object to go")


@pytest.mark.parametrize("gap", [annotations_over_256_kib, configmap_data_of_another_type, controller_as_a_string,
                                 options_that_do_not_parse, an_unknown_field_validation, a_pointer_escape_other_than_0_and_1,
                                 a_top_level_patch_delete, secret_string_data, names_longer_than_63,
                                 a_self_owning_object_deleted_in_the_foreground], ids=lambda f: f.__name__)
def test_kubernetes_answers_for_the_smaller_gaps(api, gap):
    gap(api.http)


def test_a_spec_with_a_typo_keeps_the_last_good_spec_in_force(api, workdir):
    api.http.ok("POST", "/api/v1/namespaces", {"metadata": {"name": "team-b"}})
    proxy = Proxy(workdir, api.kubeconfig, spec=SPEC).start()
    try:
        proxy.wait_applied(1)
        typo = SPEC.replace("epoch: 1", "epoch: 5").replace("resources:", "resource:", 1)
        for broken in (typo, SPEC.replace("epoch: 1", "epoch: 5").replace("resources:\n", "resources: nope\n", 1)):
            proxy.write_spec(broken)
            wait_until(lambda: proxy.status().get("specError"), timeout=10, what="the spec error")
            assert proxy.status()["appliedEpoch"] == 1
            status, out = Client(proxy.url).request("POST", "/api/v1/namespaces/team-b/configmaps", {"metadata": {"name": "x"}})
            assert status == 403, out
    finally:
        proxy.kill()


def test_a_yaml_bomb_is_refused_by_every_reader(api, workdir):
    bomb = os.path.join(workdir, "bomb.yaml")
    with open(bomb, "w") as f:
        f.write(BOMB)
    # A running proxy whose spec file becomes a bomb keeps answering and keeps its spec.
    proxy = Proxy(workdir, api.kubeconfig, spec=SPEC).start()
    try:
        proxy.wait_applied(1)
        proxy.write_spec(BOMB)
        wait_until(lambda: "too many values" in (proxy.status().get("specError") or ""), timeout=10, what="the bomb refused")
        started = time.time()
        assert healthy(proxy.admin_port) and time.time() - started < 1
        assert rss_mb(proxy.proc.pid) < 500 and proxy.status()["appliedEpoch"] == 1
    finally:
        proxy.kill()
    # The CLI's readers: a kubeconfig and an inject manifest.
    for args in (["status", "--kubeconfig", bomb], ["inject", "-f", bomb]):
        started = time.time()
        result = subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=30)
        assert result.returncode != 0 and "too many values" in result.stderr, (args, result.stderr)
        assert time.time() - started < 10


@pytest.mark.parametrize("manifest,message", [
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: i}]}\n---\nkind: [unclosed\n", "invalid YAML"),
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: i}]}\n---\njust text\n", "document 2 is not a Kubernetes object"),
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: b}\n", "has no spec.containers"),
    ("apiVersion: v1\nkind: List\nitems: []\n", "List"),
], ids=["unparsable", "not-an-object", "no-containers", "list"])
def test_inject_never_drops_a_document_it_cannot_read(workdir, manifest, message):
    path = os.path.join(workdir, "m.yaml")
    with open(path, "w") as f:
        f.write(manifest)
    result = subprocess.run([BINARY, "inject", "-f", path], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
