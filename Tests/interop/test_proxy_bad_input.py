"""What the proxy does with bad bytes: a truncated or malformed upstream body is never passed
on as if complete, a dropped upstream ends a watch cleanly, huge objects pass intact, and
garbage from a client gets an error without hurting anyone else."""
import http.client
import json
import socket

import pytest

from conftest import Proxy
from fake_upstream import FakeUpstream, chunked

SPEC = ("shard: bad\nepoch: 1\nresources:\n- {apiGroups: [\"\"], resources: [configmaps], key: namespace}\n"
        "owned:\n  namespaces: [ns-0]\n")


def item(ns, name, extra=""):
    return ('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"%s","namespace":"%s","resourceVersion":"5"}%s}'
            % (name, ns, extra)).encode()


@pytest.fixture
def rig(workdir):
    upstream = FakeUpstream(workdir)
    proxy = Proxy(workdir, upstream.kubeconfig, spec=SPEC).start()
    proxy.wait_applied(1)
    yield upstream, proxy
    proxy.kill()
    upstream.stop()


def fetch(proxy, path):
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=20)
    conn.request("GET", path, headers={"accept": "application/json"})
    response = conn.getresponse()
    return response.status, response.getheader("content-type"), response.read()


def still_serving(upstream, proxy):
    upstream.routes["/api/v1/namespaces/ns-0/configmaps/ok"] = (200, "application/json", item("ns-0", "ok"))
    status, _, body = fetch(proxy, "/api/v1/namespaces/ns-0/configmaps/ok")
    assert status == 200 and json.loads(body)["metadata"]["name"] == "ok"
    assert proxy.admin("/healthz") == "ok"


@pytest.mark.parametrize("body", [
    b'{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"9"},"items":[' + item("ns-0", "a") + b',' + item("ns-1", "b")[:40],
    b'{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"9"},"items":[' + item("ns-0", "a") + b', 12, ' + item("ns-0", "c") + b']}',
    b'{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"9"},"items":[{"metadata":{"name":"x","namespace":"ns-0"}}',
])
def test_truncated_or_malformed_lists_are_never_passed_on_as_complete(rig, body):
    upstream, proxy = rig
    truncated = not body.endswith(b"]}")
    upstream.routes["/api/v1/configmaps"] = lambda h: chunked(h, [body[:30], body[30:]], "application/json", finish=not truncated)
    with pytest.raises((http.client.IncompleteRead, ConnectionError, http.client.RemoteDisconnected)):
        fetch(proxy, "/api/v1/configmaps")
    if not truncated:
        assert proxy.metric("ctrlmesh_proxy_filter_errors_total") == 1
    still_serving(upstream, proxy)


def test_unfilterable_content_type_is_an_error_not_a_leak(rig):
    upstream, proxy = rig
    upstream.routes["/api/v1/configmaps"] = (200, "application/yaml", b"items:\n- metadata: {name: b, namespace: ns-1}\n")
    status, content_type, body = fetch(proxy, "/api/v1/configmaps")
    assert status == 500 and json.loads(body)["kind"] == "Status" and b"ns-1" not in body
    still_serving(upstream, proxy)


def test_a_dropped_upstream_ends_the_watch_cleanly(rig):
    upstream, proxy = rig
    events = [b'{"type":"ADDED","object":' + item("ns-0", f"w{i}") + b'}\n' for i in range(3)]
    upstream.routes["/api/v1/configmaps"] = lambda h: chunked(h, events + [events[0][:25]], "application/json", finish=False)
    status, _, body = fetch(proxy, "/api/v1/configmaps?watch=true")
    lines = [json.loads(line) for line in body.splitlines() if line.strip()]
    assert status == 200 and [e["object"]["metadata"]["name"] for e in lines] == ["w0", "w1", "w2"]
    still_serving(upstream, proxy)


def test_huge_objects_pass_intact(rig):
    upstream, proxy = rig
    big = item("ns-0", "big", ',"data":{"blob":"%s"}' % ("x" * (8 << 20)))
    body = b'{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"9"},"items":[' + item("ns-1", "small") + b',' + big + b']}'
    upstream.routes["/api/v1/configmaps"] = lambda h: chunked(h, [body[i:i + 65536] for i in range(0, len(body), 65536)], "application/json")
    status, _, out = fetch(proxy, "/api/v1/configmaps")
    assert status == 200
    assert json.loads(out)["items"] == [json.loads(big)]
    upstream.routes["/api/v1/namespaces/ns-0/configmaps/big"] = (200, "application/json", big)
    assert fetch(proxy, "/api/v1/namespaces/ns-0/configmaps/big")[2] == big


@pytest.mark.parametrize("garbage", [
    b"\x00\x01\x02 not http at all\r\n\r\n",
    b"GET /api/v1/namespaces/%zz/configmaps/../../x HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /api/v1/namespaces/ns-0/configmaps HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 9\r\n\r\n{\"metadat",
    b"GET " + b"/a" * 40000 + b" HTTP/1.1\r\n\r\n",
])
def test_garbage_from_a_client_gets_an_error(rig, garbage):
    upstream, proxy = rig
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        s.sendall(garbage)
        s.shutdown(socket.SHUT_WR)
        reply = b""
        try:
            while chunk := s.recv(65536):
                reply += chunk
        except ConnectionError:
            pass
    assert reply == b"" or reply.startswith(b"HTTP/1.1 4") or reply.startswith(b"HTTP/1.1 5"), reply[:200]
    still_serving(upstream, proxy)
