"""TLS with ALPN h2: kubectl (client-go negotiates h2) and nghttp2 as an independent HTTP/2 peer."""
import base64
import json
import subprocess

from conftest import require_tool


def ca_file(server, tmp_path):
    import yaml  # PyYAML ships with the kubernetes client
    cfg = yaml.safe_load(open(server.kubeconfig))
    path = tmp_path / "ca.pem"
    path.write_bytes(base64.b64decode(cfg["clusters"][0]["cluster"]["certificate-authority-data"]))
    return str(path)


def test_kubectl_over_tls(tls_server):
    k = tls_server.kubectl
    assert tls_server.url.startswith("https://")
    k("create", "namespace", "secure")
    k("create", "configmap", "c", "-n", "secure", "--from-literal=k=v")
    assert json.loads(k("get", "configmap", "c", "-n", "secure", "-o", "json").stdout)["data"] == {"k": "v"}


def test_nghttp_negotiates_h2_over_tls(tls_server, tmp_path):
    require_tool("nghttp")
    # nghttp verifies nothing by itself; openssl checks the chain against the kubeconfig's CA.
    ca = ca_file(tls_server, tmp_path)
    verify = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{tls_server.port}", "-alpn", "h2",
                             "-CAfile", ca, "-verify_return_error"], input=b"", capture_output=True, timeout=20)
    # The server's first HTTP/2 frames arrive as binary after the handshake report.
    report = verify.stdout.decode("utf-8", errors="replace")
    assert "Verify return code: 0 (ok)" in report
    assert "ALPN protocol: h2" in report
    out = subprocess.run(["nghttp", "-v", f"{tls_server.url}/api/v1/namespaces"], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    assert "The negotiated protocol: h2" in out.stdout
    assert '"kind":"NamespaceList"' in out.stdout


def test_h2c_prior_knowledge_and_h2load(server):
    require_tool("nghttp")
    require_tool("h2load")
    out = subprocess.run(["nghttp", f"{server.url}/version"], capture_output=True, text=True, timeout=20)
    assert json.loads(out.stdout)["gitVersion"] == "v1.32.0"
    load = subprocess.run(["h2load", "-n", "2000", "-c", "4", "-m", "10", f"{server.url}/api/v1/namespaces"],
                          capture_output=True, text=True, timeout=60)
    assert "2000 succeeded, 0 failed, 0 errored" in load.stdout, load.stdout
