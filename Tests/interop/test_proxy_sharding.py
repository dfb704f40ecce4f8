"""Two proxies with complementary specs over 50 namespaces and 5,000 configmaps, in each key
mode: their lists and watches are disjoint and together equal the direct view, and writes to
the other shard's objects are refused without reaching the API server."""
import random
import re
import tempfile
import shutil
import time

import pytest

from conftest import Proxy, Server, require_tool
from kube_http import Client, WatchStream, parallel

NAMESPACES = [f"ns-{i:02d}" for i in range(50)]
PARENTS = 10
PER_NAMESPACE = 100
TOP = "0x10000000000000000"


def fnv1a64(text):
    h = 0xcbf29ce484222325
    for b in text.encode():
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


# FNV-1a's top bits barely change across short, similar names ("ns-00".."ns-49" all hash
# below 2^63), so the namespace split point is the median hash, as a planner would choose.
NAMESPACE_SPLIT = hex(sorted(fnv1a64(ns) for ns in NAMESPACES)[len(NAMESPACES) // 2])
HALF = "0x8000000000000000"


def spec(shard, mode, first_half, epoch=1):
    head = f"shard: {shard}\nepoch: {epoch}\n"
    if mode == "namespace-sets":
        # Explicit names for one shard, a regular expression for the other.
        resources = "resources:\n- {apiGroups: [\"\"], resources: [configmaps], key: namespace}\n"
        owned = ("owned:\n  namespaces: [" + ", ".join(NAMESPACES[:25]) + "]\n") if first_half else \
            "owned:\n  namespaceRegexes: ['^ns-(2[5-9]|[34][0-9])$']\n"
    elif mode == "namespace-hash":
        resources = "resources:\n- {apiGroups: [\"\"], resources: [configmaps], key: namespace}\n"
        rng = f"{{start: '0x0', end: '{NAMESPACE_SPLIT}'}}" if first_half else f"{{start: '{NAMESPACE_SPLIT}', end: '{TOP}'}}"
        owned = f"owned:\n  namespaceHashRanges: [{rng}]\n"
    else:
        resources = "resources:\n- {apiGroups: [\"\"], resources: [configmaps], key: object}\n"
        rng = f"{{start: '0x0', end: '{HALF}'}}" if first_half else f"{{start: '{HALF}', end: '{TOP}'}}"
        owned = f"owned:\n  objectHashRanges: [{rng}]\n"
    return head + resources + owned


@pytest.fixture(scope="module")
def seeded():
    """One API server with 50 namespaces, each with 10 parent configmaps and 90 children owned
    (controller ownerReference) by a parent."""
    require_tool("kubectl")
    workdir = tempfile.mkdtemp(prefix="ctrlmesh-shards-")
    server = Server(workdir, extra=["--bookmark-interval", "1"]).start()
    api = Client(server.url)
    parallel(lambda ns: api.ok("POST", "/api/v1/namespaces", {"metadata": {"name": ns}}), NAMESPACES)

    def parents(ns):
        return [api.ok("POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": f"p-{i}"}, "data": {"k": "v"}})
                for i in range(PARENTS)]
    created = dict(zip(NAMESPACES, parallel(parents, NAMESPACES)))

    def children(ns):
        for j in range(PER_NAMESPACE - PARENTS):
            parent = created[ns][j % PARENTS]["metadata"]
            ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": parent["name"], "uid": parent["uid"], "controller": True}
            api.ok("POST", f"/api/v1/namespaces/{ns}/configmaps",
                   {"metadata": {"name": f"c-{j}", "ownerReferences": [ref]}, "data": {"k": "v"}})
    parallel(children, NAMESPACES)
    yield server, workdir
    server.kill()
    shutil.rmtree(workdir, ignore_errors=True)


def key(item):
    return (item["metadata"]["namespace"], item["metadata"]["name"])


def upstream_writes(api):
    text = api.ok("GET", "/metrics", headers={"accept": "text/plain"}).decode()
    total = 0
    for line in text.splitlines():
        m = re.match(r'apiserver_request_total\{verb="(\w+)",group="",resource="configmaps",subresource=""\} (\d+)', line)
        if m and m.group(1) in ("CREATE", "UPDATE", "PATCH", "DELETE", "DELETECOLLECTION"):
            total += int(m.group(2))
    return total


@pytest.mark.parametrize("mode", ["namespace-sets", "namespace-hash", "object"])
def test_two_shards_partition_lists_watches_and_writes(seeded, mode):
    server, workdir = seeded
    direct = Client(server.url)
    a = Proxy(workdir, server.kubeconfig, spec=spec("shard-a", mode, True), name=f"a-{mode}").start()
    b = Proxy(workdir, server.kubeconfig, spec=spec("shard-b", mode, False), name=f"b-{mode}").start()
    try:
        a.wait_applied(1)
        b.wait_applied(1)
        pa, pb = Client(a.url), Client(b.url)

        # Lists: disjoint, and together the direct list; whole and paginated.
        everything, rv = direct.list_all("/api/v1/configmaps")
        # (Earlier modes' churn shares the server: about 5,000 objects.)
        assert abs(len(everything) - len(NAMESPACES) * PER_NAMESPACE) <= 300
        for limit in (None, 700):
            la, _ = pa.list_all("/api/v1/configmaps", limit=limit)
            lb, _ = pb.list_all("/api/v1/configmaps", limit=limit)
            ka, kb = {key(i) for i in la}, {key(i) for i in lb}
            assert len(ka) == len(la) and len(kb) == len(lb)
            assert not (ka & kb)
            assert ka | kb == {key(i) for i in everything}
            assert 0.25 < len(ka) / len(everything) < 0.75, (len(ka), len(everything))
        if mode == "namespace-hash":
            # Hash-owned namespaces go to the server as a KEP-5866 shardSelector; the server
            # echoes shardInfo, so the proxy had nothing left to drop.
            assert a.metric("ctrlmesh_proxy_items_dropped_total") == 0
            assert a.metric("ctrlmesh_proxy_items_kept_total") > 0
        by_key = {key(i): i for i in everything}
        if mode == "object":
            # Children follow their controller: a parent and its children share a shard.
            for item in la:
                refs = item["metadata"].get("ownerReferences")
                parent = refs and (item["metadata"]["namespace"], refs[0]["name"])
                if parent and parent in by_key:  # (earlier churn deleted some parents)
                    assert parent in ka
        else:
            assert {k[0] for k in ka}.isdisjoint({k[0] for k in kb})
        # kubectl (a real client-go peer) sees the same slice through the proxy.
        names = set(a.kubectl("get", "configmaps", "-A", "-o", "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {end}").stdout.split())
        assert names == {f"{ns}/{n}" for ns, n in ka}

        # Watches over churn: disjoint, together the direct stream.
        path = f"/api/v1/configmaps?watch=true&allowWatchBookmarks=true&resourceVersion={rv}"
        wa, wb, wd = WatchStream(a.url, path), WatchStream(b.url, path), WatchStream(server.url, path)
        assert wa.status == wb.status == wd.status == 200
        rnd = random.Random(5866)
        keys = sorted(by_key)
        for ns, name in rnd.sample(keys, 200):
            direct.ok("PATCH", f"/api/v1/namespaces/{ns}/configmaps/{name}", {"data": {"k": str(rnd.random())}},
                      content_type="application/merge-patch+json")
        for ns, name in rnd.sample(keys, 100):
            direct.request("DELETE", f"/api/v1/namespaces/{ns}/configmaps/{name}")
        for i in range(100):
            direct.ok("POST", f"/api/v1/namespaces/{rnd.choice(NAMESPACES)}/configmaps", {"metadata": {"name": f"new-{mode}-{i}"}})
        final = int(direct.ok("GET", "/api/v1/configmaps?limit=1")["metadata"]["resourceVersion"])
        deadline = time.time() + 30
        while time.time() < deadline and min(wa.last_rv(), wb.last_rv(), wd.last_rv()) < final:
            time.sleep(0.1)
        assert min(wa.last_rv(), wb.last_rv(), wd.last_rv()) >= final, (wa.last_rv(), wb.last_rv(), final)

        def changes(stream):
            return {(e["type"], e["object"]["metadata"]["namespace"], e["object"]["metadata"]["name"],
                     e["object"]["metadata"]["resourceVersion"]) for e in stream.snapshot() if e["type"] != "BOOKMARK"}
        ca, cb, cd = changes(wa), changes(wb), changes(wd)
        assert ca and cb
        assert not ({c[1:3] for c in ca} & {c[1:3] for c in cb})
        assert ca | cb == cd
        assert any(e["type"] == "BOOKMARK" for e in wa.snapshot())
        for w in (wa, wb, wd):
            w.close()

        # Writes to the other shard's objects: 403 naming the shard, and nothing reaches the server.
        now_a = {key(i) for i in pa.list_all("/api/v1/configmaps")[0]}
        foreign = sorted({key(i) for i in pb.list_all("/api/v1/configmaps")[0]})[::97][:10]
        assert foreign and not (set(foreign) & now_a)
        before = upstream_writes(direct)
        for ns, name in foreign:
            current = direct.ok("GET", f"/api/v1/namespaces/{ns}/configmaps/{name}")
            attempts = [
                pa.request("PUT", f"/api/v1/namespaces/{ns}/configmaps/{name}", dict(current, data={"stolen": "1"})),
                pa.request("PATCH", f"/api/v1/namespaces/{ns}/configmaps/{name}", {"data": {"stolen": "1"}},
                           content_type="application/merge-patch+json"),
                pa.request("DELETE", f"/api/v1/namespaces/{ns}/configmaps/{name}"),
                pa.request("GET", f"/api/v1/namespaces/{ns}/configmaps/{name}"),
            ]
            if mode == "object":
                # A new object owned by the same controller as the foreign one has its key.
                owner = (current["metadata"].get("ownerReferences") or [{"name": name, "uid": current["metadata"]["uid"]}])[0]
                ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": owner["name"], "uid": owner["uid"], "controller": True}
                attempts.append(pa.request("POST", f"/api/v1/namespaces/{ns}/configmaps",
                                           {"metadata": {"name": f"stolen-{name}", "ownerReferences": [ref]}}))
            else:
                attempts.append(pa.request("POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "stolen"}}))
            for status, body in attempts:
                assert status == 403 and body["reason"] == "Forbidden" and "shard-a" in body["message"], (status, body)
            assert direct.ok("GET", f"/api/v1/namespaces/{ns}/configmaps/{name}")["metadata"]["resourceVersion"] == current["metadata"]["resourceVersion"]
        assert upstream_writes(direct) == before
        assert a.metric("ctrlmesh_proxy_refused_requests_total") >= 5 * len(foreign)
        if mode != "object":
            # deletecollection in a foreign namespace is refused outright.
            status, body = pa.request("DELETE", f"/api/v1/namespaces/{foreign[0][0]}/configmaps")
            assert status == 403, body
            assert upstream_writes(direct) == before

        # deletecollection across namespaces deletes exactly the shard's own matching objects.
        for i in range(40):
            direct.ok("POST", f"/api/v1/namespaces/{NAMESPACES[(i * 7) % 50]}/configmaps",
                      {"metadata": {"name": f"sweep-{mode}-{i}", "labels": {"sweep": mode}}})
        swept = f"/api/v1/configmaps?labelSelector=sweep%3D{mode}"
        mine = {key(i) for i in pa.list_all(swept)[0]}
        theirs = {key(i) for i in pb.list_all(swept)[0]}
        assert mine and theirs and len(mine) + len(theirs) == 40
        deleted = pa.ok("DELETE", swept)
        assert {key(i) for i in deleted["items"]} == mine
        assert {key(i) for i in direct.list_all(swept)[0]} == theirs
        pb.ok("DELETE", swept)
        assert direct.list_all(swept)[0] == []
    finally:
        a.kill()
        b.kill()
