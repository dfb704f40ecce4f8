"""Probe classes against every listener a client reaches (the API server, the proxy and its
admin listener): malformed HTTP, request smuggling shapes, slowloris, idle connection floods,
200 MiB bodies, deep nesting, and kill -9 during writes. After each, the component answers and
everything it acknowledged is still there."""
import os
import signal
import subprocess
import socket
import threading
import time

import pytest

from conftest import Proxy, Server, require_tool, wait_until
from kube_http import Client
from test_fence_hostile import SPEC, raw, request


@pytest.fixture
def rig(workdir):
    require_tool("kubectl")
    s = Server(workdir).start()
    http = Client(s.url)
    for ns in ("team-a", "team-b"):
        http.ok("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
    http.ok("POST", "/api/v1/namespaces/team-a/configmaps", {"metadata": {"name": "keep"}, "data": {"k": "v"}})
    p = Proxy(s.workdir, s.kubeconfig, spec=SPEC).start()
    p.wait_applied(1)
    s.http, s.proxy = http, p
    yield s
    p.kill()
    s.kill()


def listeners(rig):
    return {"server": rig.port, "proxy": rig.proxy.port, "admin": rig.proxy.admin_port}


def still_serving(rig):
    """Every listener answers, and the acknowledged object is intact."""
    for name, port in listeners(rig).items():
        status, reply = request(port, "GET", "/healthz")
        assert status == 200, (name, reply[:200])
    assert Client(rig.proxy.url).ok("GET", "/api/v1/namespaces/team-a/configmaps/keep")["data"] == {"k": "v"}
    assert not Client(rig.url).request("GET", "/api/v1/namespaces/team-b/configmaps/smuggled")[0] == 200


SMUGGLED = (b"POST /api/v1/namespaces/team-b/configmaps HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
            b"content-length: 31\r\n\r\n{\"metadata\":{\"name\":\"smuggled\"}}")


@pytest.mark.parametrize("probe", [
    # Content-Length and Transfer-Encoding together, the classic CL.TE desync.
    b"POST /api/v1/namespaces/team-a/configmaps HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED,
    # Two different Content-Lengths.
    b"POST /api/v1/namespaces/team-a/configmaps HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}" + SMUGGLED,
    # Obfuscated Transfer-Encoding.
    b"POST /api/v1/namespaces/team-a/configmaps HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\nContent-Length: 2\r\n\r\n{}" + SMUGGLED,
    b"POST /api/v1/namespaces/team-a/configmaps HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + SMUGGLED,
    b"POST /api/v1/namespaces/team-a/configmaps HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n" + SMUGGLED,
    # A bad chunk size and an obs-fold header.
    b"POST /api/v1/namespaces/team-a/configmaps HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nxxxxx\r\n0\r\n\r\n",
    b"GET /api/v1/namespaces/team-a/configmaps HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n",
    # Not HTTP, bad request lines, NUL bytes, an absolute-form target, a huge header.
    b"\x00\x01\x02 garbage\r\n\r\n",
    b"GET  /api/v1/namespaces/team-b/secrets  HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET http://evil/api/v1/namespaces/team-b/secrets HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/v1/namespaces/team-b/secrets HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    b"GET /api/v1/namespaces/team-b/secrets HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
    b"GET /api/v1/namespaces/team-b/secrets HTTP/9.9\r\nHost: x\r\n\r\n",
], ids=["cl-te", "two-cl", "xchunked", "te-space", "two-te", "bad-chunk", "obs-fold", "not-http", "double-space",
        "absolute-form", "nul-header", "huge-header", "http-9.9"])
@pytest.mark.parametrize("listener", ["server", "proxy", "admin"])
def test_malformed_http_and_smuggling_shapes(rig, listener, probe):
    reply = raw(listeners(rig)[listener], probe + b"\r\n", timeout=5)
    first = reply.split(b"\r\n", 1)[0]
    assert reply == b"" or first.startswith(b"HTTP/1.1 4") or first.startswith(b"HTTP/1.1 2"), reply[:200]
    # Whatever was smuggled behind the first request never ran.
    assert reply.count(b"HTTP/1.1 201") == 0, reply[:400]
    still_serving(rig)


def test_slowloris_clients_are_dropped_and_others_served(rig):
    """A client that sends its head a byte at a time is closed after the header timeout (10 s)
    on every listener, while everyone else is served meanwhile."""
    results = {}

    def drip(name, port):
        s = socket.create_connection(("127.0.0.1", port), timeout=20)
        started = time.time()
        try:
            for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
                s.sendall(bytes([byte]))
                time.sleep(0.5)
                if time.time() - started > 25:
                    break
            results[name] = ("sent everything", time.time() - started)
        except OSError:
            results[name] = ("closed", time.time() - started)
        finally:
            s.close()

    threads = [threading.Thread(target=drip, args=item) for item in listeners(rig).items()]
    for t in threads:
        t.start()
    time.sleep(2)
    still_serving(rig)
    for t in threads:
        t.join(timeout=40)
    for name, (what, after) in results.items():
        assert what == "closed" and after < 20, (name, what, after)
    still_serving(rig)


def test_an_idle_connection_flood_is_shed_and_the_server_recovers(rig):
    """More idle connections than a listener takes (4096): the excess is closed on accept, the
    rest after the header timeout, and the server answers again."""
    held = []
    try:
        for _ in range(4300):
            try:
                held.append(socket.create_connection(("127.0.0.1", rig.port), timeout=5))
            except OSError:
                break
        assert len(held) >= 4100

        def all_closed():
            closed = 0
            for s in held:
                s.setblocking(False)
                try:
                    if s.recv(1) == b"":
                        closed += 1
                except BlockingIOError:
                    pass
                except OSError:
                    closed += 1
            return closed == len(held)

        wait_until(all_closed, timeout=30, interval=1, what="the flood to be closed")
    finally:
        for s in held:
            s.close()
    still_serving(rig)


@pytest.mark.parametrize("listener", ["server", "proxy"])
def test_a_200_mib_body_is_refused_without_taking_the_listener_down(rig, listener):
    port = listeners(rig)[listener]
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    reply = b""
    try:
        s.sendall(b"POST /api/v1/namespaces/team-a/configmaps HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
                  b"content-length: 209715200\r\n\r\n{\"metadata\":{\"name\":\"huge\"},\"data\":{\"a\":\"")
        chunk = b"x" * (1 << 20)
        for _ in range(200):
            s.sendall(chunk)
    except OSError:
        pass
    try:
        while part := s.recv(65536):
            reply += part
    except OSError:
        pass
    s.close()
    assert reply == b"" or reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert Client(rig.url).request("GET", "/api/v1/namespaces/team-a/configmaps/huge")[0] == 404
    still_serving(rig)


@pytest.mark.parametrize("body", [b"[" * 1_000_000, b'{"a":' * 200_000, b'{"metadata":{"name":"deep"},"data":' + b"[" * 300 + b"]" * 300 + b"}"],
                         ids=["arrays", "objects", "closed"])
@pytest.mark.parametrize("listener", ["server", "proxy"])
def test_deep_nesting_is_a_bad_request(rig, listener, body):
    status, reply = request(listeners(rig)[listener], "POST", "/api/v1/namespaces/team-a/configmaps", body)
    assert status == 400, reply[:300]
    still_serving(rig)


def test_kill_9_during_writes_loses_nothing_acknowledged(workdir):
    data = os.path.join(workdir, "data")
    s = Server(workdir, data_dir=data).start()
    http = Client(s.url)
    http.ok("POST", "/api/v1/namespaces", {"metadata": {"name": "w"}})
    acknowledged, stop = [], threading.Event()

    def write(worker):
        c = Client(s.url)
        i = 0
        while not stop.is_set():
            try:
                status, _ = c.request("POST", "/api/v1/namespaces/w/configmaps", {"metadata": {"name": f"c-{worker}-{i}"}})
            except OSError:
                return
            if status == 201:
                acknowledged.append(f"c-{worker}-{i}")
            i += 1

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    wait_until(lambda: len(acknowledged) > 200, timeout=30, what="writes under way")
    s.kill(signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join(timeout=10)
    restarted = Server(workdir, data_dir=data)
    restarted.port = s.port
    restarted.start()
    try:
        names = {i["metadata"]["name"] for i in Client(restarted.url).ok("GET", "/api/v1/namespaces/w/configmaps")["items"]}
        missing = [n for n in acknowledged if n not in names]
        assert not missing, missing[:10]
        assert request(restarted.port, "GET", "/healthz")[0] == 200
    finally:
        restarted.kill()


def test_the_managers_listeners_drop_silent_and_garbage_clients(direct_server):
    """The manager's gRPC listener (proxies' sessions) and its webhook listener: a client that
    connects and says nothing is dropped within the header timeout, garbage gets nowhere, and
    both keep serving."""
    from test_manager import webhook_manager
    direct_server.kubectl("create", "namespace", "ctrlmesh-system")
    manager = webhook_manager(direct_server)
    try:
        flags = dict(zip(manager.args, manager.args[1:]))
        grpc_port = int(flags["--listen"].rsplit(":", 1)[1])
        webhook_port = int(flags["--webhook-listen"].rsplit(":", 1)[1])
        for port in (grpc_port, webhook_port):
            started = time.time()
            with socket.create_connection(("127.0.0.1", port), timeout=30) as silent:
                try:
                    silent.recv(1)
                except OSError:
                    pass
            assert time.time() - started < 20, port
            raw(port, b"\x00\x01garbage\r\n\r\n" * 100, timeout=5)
        # Both still serve TLS (the proxies' endpoint with the webhook certificate, h2 by ALPN).
        for port, alpn in ((grpc_port, ["-alpn", "h2"]), (webhook_port, [])):
            result = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-brief", *alpn],
                                    input=b"", capture_output=True, timeout=20)
            assert b"CONNECTION ESTABLISHED" in result.stdout + result.stderr, result.stderr[-300:]
    finally:
        manager.stop()
