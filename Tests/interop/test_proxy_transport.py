"""The proxy's transports: HTTP/2 over TLS to the API server with many watches multiplexed on
one connection, https to the operator with a given certificate, and h2c from nghttp."""
import json
import subprocess
import time

from conftest import Proxy, Server, require_tool
from kube_http import WatchStream

OWN_ALL_CONFIGMAPS = ("shard: all\nepoch: 1\nresources:\n- {apiGroups: [\"\"], resources: [configmaps], key: namespace}\n"
                      "owned:\n  namespaceRegexes: ['.*']\n")


def established_to(port):
    """Established TCP connections to 127.0.0.1:port, from /proc/net/tcp."""
    count = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            remote, state = fields[2], fields[3]
            if state == "01" and int(remote.split(":")[1], 16) == port:
                count += 1
    return count


def test_http2_upstream_multiplexes_watches(workdir):
    require_tool("kubectl")
    server = Server(workdir, tls=True).start()
    proxy = Proxy(workdir, server.kubeconfig, spec=OWN_ALL_CONFIGMAPS).start()
    try:
        proxy.wait_applied(1)
        proxy.kubectl("create", "namespace", "h2")
        proxy.kubectl("create", "configmap", "c", "-n", "h2", "--from-literal=k=v")
        watches = [WatchStream(proxy.url, "/api/v1/namespaces/h2/configmaps?watch=true") for _ in range(20)]
        time.sleep(1)
        # 20 watches and the requests before them share the proxy's HTTP/2 connection(s):
        # HTTP/1.1 would need one connection per watch. (The pool may race a spare
        # connection or two while the first handshake is under way.)
        assert 1 <= established_to(server.port) <= 4, established_to(server.port)
        proxy.kubectl("create", "configmap", "d", "-n", "h2")
        deadline = time.time() + 10
        while time.time() < deadline and not all(any(e["object"]["metadata"]["name"] == "d" for e in w.snapshot()) for w in watches):
            time.sleep(0.05)
        assert all(any(e["object"]["metadata"]["name"] == "d" for e in w.snapshot()) for w in watches)
        for w in watches:
            w.close()
    finally:
        proxy.kill()
        server.kill()


def test_operator_side_https_and_h2c(workdir, tmp_path):
    require_tool("openssl")
    require_tool("nghttp")
    server = Server(workdir).start()
    cert, key = str(tmp_path / "tls.crt"), str(tmp_path / "tls.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    https = Proxy(workdir, server.kubeconfig, spec=OWN_ALL_CONFIGMAPS, name="https",
                  extra=["--tls-cert", cert, "--tls-key", key]).start()
    plain = Proxy(workdir, server.kubeconfig, spec=OWN_ALL_CONFIGMAPS, name="plain").start()
    try:
        https.wait_applied(1)
        # kubectl over https (client-go negotiates h2 by ALPN) with the written kubeconfig.
        https.kubectl("create", "namespace", "secure")
        https.kubectl("create", "configmap", "c", "-n", "secure", "--from-literal=k=v")
        out = json.loads(https.kubectl("get", "configmap", "c", "-n", "secure", "-o", "json").stdout)
        assert out["data"] == {"k": "v"}
        alpn = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{https.port}", "-alpn", "h2", "-CAfile", cert],
                              input=b"", capture_output=True, timeout=20).stdout
        assert b"ALPN protocol: h2" in alpn and b"Verify return code: 0 (ok)" in alpn
        # nghttp speaks h2c by prior knowledge to the plain listener.
        listing = subprocess.run(["nghttp", f"{plain.url}/api/v1/namespaces/secure/configmaps"], capture_output=True,
                                 text=True, timeout=20).stdout
        assert json.loads(listing)["items"][0]["metadata"]["name"] == "c"
    finally:
        https.kill()
        plain.kill()
        server.kill()


def upgrade_echo(handler):
    """Answers an upgrade with 101, then echoes bytes, as exec's SPDY/WebSocket stream would carry them."""
    handler.wfile.write(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n")
    handler.wfile.flush()
    conn = handler.connection
    while True:
        data = conn.recv(65536)
        if not data:
            break
        conn.sendall(b"echo:" + data)
    handler.close_connection = True


def test_exec_style_upgrades_are_tunnelled_within_the_shard(workdir):
    import socket
    from fake_upstream import FakeUpstream
    upstream = FakeUpstream(workdir)
    upstream.routes["/api/v1/namespaces/ns-0/pods/p/exec"] = upgrade_echo
    spec = ("shard: s\nepoch: 1\nresources:\n- {apiGroups: [\"\"], resources: [pods], key: namespace}\n"
            "owned:\n  namespaces: [ns-0]\n")
    proxy = Proxy(workdir, upstream.kubeconfig, spec=spec).start()
    try:
        proxy.wait_applied(1)

        def upgrade(namespace):
            s = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
            s.sendall((f"POST /api/v1/namespaces/{namespace}/pods/p/exec?command=sh&stdin=true HTTP/1.1\r\n"
                       "Host: proxy\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n"
                       "Content-Length: 0\r\n\r\n").encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = s.recv(4096)
                if not chunk:
                    break
                head += chunk
            return s, head

        s, head = upgrade("ns-0")
        assert head.startswith(b"HTTP/1.1 101"), head
        for message in (b"hello", b"x" * 100000):
            s.sendall(message)
            got = b""
            while len(got.replace(b"echo:", b"")) < len(message):
                got += s.recv(65536)
            assert got.startswith(b"echo:") and got.replace(b"echo:", b"") == message
        s.close()
        method, path, headers = upstream.requests[-1]
        headers = {k.lower(): v for k, v in headers.items()}
        assert method == "POST" and headers["upgrade"] == "SPDY/3.1" and headers["authorization"] == "Bearer fake-token"

        before = len(upstream.requests)
        s, head = upgrade("ns-1")
        assert head.startswith(b"HTTP/1.1 403"), head
        s.close()
        assert len(upstream.requests) == before, "a refused upgrade must not reach the API server"
    finally:
        proxy.kill()
        upstream.stop()
