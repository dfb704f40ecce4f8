"""The mesh manager's surfaces with real peers: kubectl applies the shipped manifests; the
manager's validating and injecting webhooks answer the embedded API server; `ctrlmesh inject`
renders the same change offline; `ctrlmesh status` shows the shards; and the Python `kubernetes`
client, as an unmodified watcher behind a proxy the manager placed, sees only its shard."""
import base64
import json
import os
import subprocess

import pytest

from conftest import BINARY, free_port, wait_until
from mesh_process import (CONFIG, MANIFESTS, NAMESPACE, SHARDING_CRD, Mesh, MeshProxy, owner_of, pod_manifest,
                          sharding_config)
from operator_process import CLONESET_CRD, Process
from test_operator import cloneset

try:
    from kubernetes import client, config, watch
except ImportError:  # make test installs it; never skip silently
    pytest.fail("the Python kubernetes package is missing (make test installs it)")

KUSION = os.path.join(os.path.dirname(MANIFESTS), "Tests", "fixtures", "kusionstack")


def webhook_manager(server, injection=False):
    port = free_port()
    args = ["manager", "--kubeconfig", server.kubeconfig, "--listen", f"127.0.0.1:{free_port()}", "--identity", "m-0",
            "--namespace", NAMESPACE, "--webhook-listen", f"127.0.0.1:{port}", "--webhook-url", f"https://127.0.0.1:{port}"]
    if injection:
        args += ["--inject-image", "ctrlmesh:test", "--inject-managers", "ctrlmesh-manager.ctrlmesh-system.svc:5450"]
    return Process(args, ready_word="listening")


def test_kubectl_applies_every_shipped_manifest(direct_server):
    s = direct_server
    s.kubectl("apply", "-f", os.path.join(MANIFESTS, "crds"), "-f", os.path.join(MANIFESTS, "manager", "namespace.yaml"))
    s.kubectl("apply", "-f", os.path.join(MANIFESTS, "samples", "cloneset-crd.yaml"))
    applied = s.kubectl("apply", "-f", os.path.join(MANIFESTS, "manager"), "-f", os.path.join(MANIFESTS, "samples")).stdout
    for line in ("deployment.apps/ctrlmesh-manager", "service/ctrlmesh-manager", "clusterrole.rbac.authorization.k8s.io/ctrlmesh-proxy",
                 "shardingconfig.ctrlmesh.kruise.io/cloneset-operator", "statefulset.apps/cloneset-operator",
                 "shardingconfig.ctrlmesh.kruise.io/team-operator", "statefulset.apps/cloneset-operator-v2"):
        assert line in applied, applied
    table = s.kubectl("get", "shardingconfigs", "-n", NAMESPACE).stdout
    # kubectl applies the directory in name order: the sharded sample's config follows the canary sample's.
    assert "cloneset-operator" in table and "ObjectHash" in table and "NamespaceSets" in table
    # KusionStack's CRD and its shard sample apply too (the manager reads that group when present).
    s.kubectl("apply", "-f", os.path.join(KUSION, "ctrlmesh.kusionstack.io_shardingconfigs.yaml"))
    s.kubectl("create", "namespace", "operator-demo")
    s.kubectl("apply", "-f", os.path.join(KUSION, "shardingconfig-demo.yaml"))


def test_the_validating_webhook_rejects_unusable_configs_with_their_field_paths(direct_server):
    s = direct_server
    s.kubectl("apply", "-f", SHARDING_CRD)
    for crd in ("faultinjections", "circuitbreakers"):
        s.kubectl("apply", "-f", os.path.join(MANIFESTS, "crds", f"ctrlmesh.kruise.io_{crd}.yaml"))
    for crd in ("shardingconfigs", "faultinjections", "circuitbreakers"):
        s.kubectl("apply", "-f", os.path.join(KUSION, f"ctrlmesh.kusionstack.io_{crd}.yaml"))
    for ns in (NAMESPACE, "operator-demo", "kusionstack-system"):
        s.kubectl("create", "namespace", ns)
    manager = webhook_manager(s)
    try:
        wait_until(lambda: s.kubectl("get", "validatingwebhookconfiguration", "ctrlmesh-validation", check=False).returncode == 0,
                   what="the webhook registered")
        bad = json.loads(sharding_config())
        bad["spec"]["sharding"]["shards"] = 0
        bad["spec"]["sharding"]["slots"] = 100
        refused = s.kubectl("apply", "-f", "-", input=json.dumps(bad), check=False)
        assert refused.returncode != 0
        assert "spec.sharding.shards: Invalid value: 0: must be at least 1" in refused.stderr, refused.stderr
        assert "spec.sharding.slots: Invalid value: 100" in refused.stderr
        s.kubectl("apply", "-f", "-", input=sharding_config())
        # A canary whose namespace steps cannot mean anything in ObjectHash mode is refused.
        canary = json.loads(sharding_config())
        canary["spec"]["canary"] = {"selector": {"matchLabels": {"version": "v2"}}, "steps": [{"namespaces": ["a"]}]}
        refused = s.kubectl("apply", "-f", "-", input=json.dumps(canary), check=False)
        assert refused.returncode != 0 and "spec.canary.steps: Forbidden: namespace steps need NamespaceHash mode" in refused.stderr, \
            refused.stderr
        # KusionStack: the shard config and the root config with its canary are accepted.
        s.kubectl("apply", "-f", os.path.join(KUSION, "shardingconfig-demo.yaml"))
        s.kubectl("apply", "-f", os.path.join(KUSION, "shardingconfig-auto.yaml"))
        # Fault and breaker policies go through the same webhook: KusionStack's demos pass, a
        # broken breaker is refused with its field paths.
        for demo in ("faultinjection-demo.yaml", "circuitbreaker-demo.yaml"):
            s.kubectl("apply", "-f", os.path.join(KUSION, demo))
        s.kubectl("apply", "-f", os.path.join(MANIFESTS, "samples", "policies.yaml"))
        broken = s.kubectl("apply", "-f", "-", check=False, input=json.dumps({
            "apiVersion": "ctrlmesh.kruise.io/v1alpha1", "kind": "CircuitBreaker", "metadata": {"name": "broken", "namespace": NAMESPACE},
            "spec": {"selector": {"matchLabels": {"app": "x"}},
                     "rateLimitings": [{"name": "deletes", "resourceRules": [{"resources": ["pods"]}], "bucket": {"limit": 0, "interval": "1m"}}]}}))
        assert broken.returncode != 0 and "spec.rateLimitings[0].bucket.limit: Invalid value: 0: must be at least 1" in broken.stderr, broken.stderr
    finally:
        manager.stop()


def test_the_injection_webhook_adds_the_proxy_to_selected_pods_only_and_once(direct_server):
    s = direct_server
    s.kubectl("apply", "-f", SHARDING_CRD)
    s.kubectl("create", "namespace", NAMESPACE)
    manager = webhook_manager(s, injection=True)
    try:
        wait_until(lambda: s.kubectl("get", "mutatingwebhookconfiguration", "ctrlmesh-injection", check=False).returncode == 0,
                   what="the webhook registered")
        s.kubectl("apply", "-f", "-", input=sharding_config())

        def pod(name):
            return json.loads(s.kubectl("get", "pod", name, "-n", NAMESPACE, "-o", "json").stdout)

        s.kubectl("apply", "-f", "-", input=pod_manifest("cloneset-operator-0"))
        selected = pod("cloneset-operator-0")
        assert [c["name"] for c in selected["spec"]["initContainers"]] == ["ctrlmesh-proxy"]
        proxy = selected["spec"]["initContainers"][0]
        assert proxy["image"] == "ctrlmesh:test" and proxy["restartPolicy"] == "Always"
        assert "--manager" in proxy["args"] and "ctrlmesh-manager.ctrlmesh-system.svc:5450" in proxy["args"]
        # It proves its pod with a projected token and trusts the manager's own CA.
        assert "--manager-token-file" in proxy["args"]
        volumes = {v["name"]: v for v in selected["spec"]["volumes"]}
        assert volumes["ctrlmesh-token"]["projected"]["sources"][0]["serviceAccountToken"]["audience"] == "ctrlmesh-manager"
        ca = next(e["value"] for e in proxy["env"] if e["name"] == "CTRLMESH_MANAGER_CA_PEM")
        secret = json.loads(s.kubectl("get", "secret", "ctrlmesh-webhook-tls", "-n", NAMESPACE, "-o", "json").stdout)
        assert ca.strip() == base64.b64decode(secret["data"]["ca.crt"]).decode().strip()
        assert {"name": "KUBECONFIG", "value": "/var/run/ctrlmesh/kubeconfig"} in selected["spec"]["containers"][0]["env"]
        assert selected["metadata"]["annotations"]["ctrlmesh.kruise.io/proxy-injected"] == "true"

        other = json.loads(pod_manifest("other-0"))
        other["metadata"]["labels"] = {"app": "other"}
        s.kubectl("apply", "-f", "-", input=json.dumps(other))
        untouched = pod("other-0")
        assert "initContainers" not in untouched["spec"] and "env" not in untouched["spec"]["containers"][0]

        # A pod that already carries the proxy (a re-invocation, or `ctrlmesh inject` output) keeps one.
        again = json.loads(pod_manifest("cloneset-operator-1"))
        again["spec"] = selected["spec"]
        s.kubectl("apply", "-f", "-", input=json.dumps(again))
        assert [c["name"] for c in pod("cloneset-operator-1")["spec"]["initContainers"]] == ["ctrlmesh-proxy"]
    finally:
        manager.stop()


def test_ctrlmesh_inject_renders_what_kubectl_applies(direct_server):
    s = direct_server
    s.kubectl("apply", "-f", SHARDING_CRD)
    s.kubectl("create", "namespace", NAMESPACE)
    sample = os.path.join(MANIFESTS, "samples", "cloneset-operator-sharded.yaml")
    rendered = subprocess.run([BINARY, "inject", "-f", sample, "--image", "ctrlmesh:test"], capture_output=True, text=True, check=True)
    assert "added the proxy to 1 of 8 objects" in rendered.stderr
    s.kubectl("apply", "-f", "-", input=rendered.stdout)
    sts = json.loads(s.kubectl("get", "statefulset", "cloneset-operator", "-n", NAMESPACE, "-o", "json").stdout)
    assert [c["name"] for c in sts["spec"]["template"]["spec"]["initContainers"]] == ["ctrlmesh-proxy"]
    # Injecting the output again changes nothing.
    twice = subprocess.run([BINARY, "inject", "-f", "-"], input=rendered.stdout, capture_output=True, text=True, check=True)
    assert "added the proxy to 0 of 8 objects" in twice.stderr
    missing = subprocess.run([BINARY, "inject", "-f", "/nonexistent.yaml"], capture_output=True, text=True)
    assert missing.returncode != 0 and "cannot read /nonexistent.yaml" in missing.stderr


def test_python_watcher_behind_a_placed_proxy_sees_only_its_shard_and_status_shows_it(direct_server, workdir):
    s = direct_server
    s.kubectl("apply", "-f", CLONESET_CRD)
    s.kubectl("create", "namespace", "apps")
    mesh = Mesh(s, workdir, managers=1)
    try:
        proxies = {}
        for ordinal in range(2):
            pod = f"cloneset-operator-{ordinal}"
            s.kubectl("apply", "-f", "-", input=pod_manifest(pod))
            proxies[pod] = MeshProxy(workdir, s.kubeconfig, pod, mesh.manager_addresses)
        status = mesh.wait_converged(2)
        s.kubectl("apply", "-f", "-", input="---\n".join(cloneset(f"app-{i}", "apps", 1) for i in range(20)))
        everything = json.loads(s.kubectl("get", "clonesets", "-n", "apps", "-o", "json").stdout)["items"]
        mine = {cs["metadata"]["name"] for cs in everything if owner_of(status, cs["metadata"]["uid"])[0] == "cloneset-operator-0"}
        assert 0 < len(mine) < 20

        api = config.new_client_from_config(config_file=proxies["cloneset-operator-0"].kubeconfig)
        custom = client.CustomObjectsApi(api)
        listed = custom.list_namespaced_custom_object("apps.kruise.io", "v1alpha1", "apps", "clonesets")
        assert {cs["metadata"]["name"] for cs in listed["items"]} == mine
        seen = set()
        for event in watch.Watch().stream(custom.list_namespaced_custom_object, "apps.kruise.io", "v1alpha1", "apps", "clonesets",
                                          timeout_seconds=2):
            seen.add(event["object"]["metadata"]["name"])
        assert seen == mine

        table = subprocess.run([BINARY, "status", "--kubeconfig", s.kubeconfig], capture_output=True, text=True, check=True).stdout
        assert f"ShardingConfig {NAMESPACE}/{CONFIG}" in table and "Ready=True" in table
        for shard in status["shards"]:
            assert f"{shard['name']}  cloneset-operator-" in table and shard["slots"] in table
        # A pod no ShardingConfig selects is told so and fails closed.
        s.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stray-0", "namespace": NAMESPACE},
                                                         "spec": {"serviceAccountName": "cloneset-operator", "containers": [{"name": "c", "image": "x"}]}}))
        stray = MeshProxy(workdir, s.kubeconfig, "stray-0", mesh.manager_addresses)
        wait_until(lambda: "unassigned" in stray.status().get("manager", ""), what="the stray proxy told it is unassigned")
        assert stray.status()["shard"] is None
        stray.process.stop()
        # A proxy that cannot prove its pod (no token, or another pod's) gets no session, and the
        # real member's session is untouched.
        for name, token_of in (("cloneset-operator-5", False), ("cloneset-operator-6", "cloneset-operator-0")):
            s.kubectl("apply", "-f", "-", input=pod_manifest(name))
            impostor = MeshProxy(workdir, s.kubeconfig, name, mesh.manager_addresses, token_of=token_of)
            wait_until(lambda: "refused" in impostor.status().get("manager", ""), what=f"{name} refused")
            assert impostor.status()["shard"] is None
            assert "prove" in impostor.status()["manager"] and "no longer a member" in impostor.status()["manager"], impostor.status()
            impostor.process.stop()
            s.kubectl("delete", "pod", name, "-n", NAMESPACE)
        assert proxies["cloneset-operator-0"].status()["shard"] == "cloneset-operator-0"
        assert mesh.wait_converged(2)
    finally:
        for proxy in proxies.values():
            proxy.process.stop(sig=9)
        mesh.stop()


def openssl_ca(directory, name):
    key, cert = os.path.join(directory, f"{name}.key"), os.path.join(directory, f"{name}.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
                    "-subj", f"/CN={name}", "-keyout", key, "-out", cert], check=True, capture_output=True)
    return key, cert


def openssl_leaf(directory, name, ca, san):
    key, csr, cert = (os.path.join(directory, f"{name}.{ext}") for ext in ("key", "csr", "crt"))
    subprocess.run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN={name}",
                    "-keyout", key, "-out", csr], check=True, capture_output=True)
    ext = os.path.join(directory, f"{name}.ext")
    with open(ext, "w") as f:
        f.write(f"subjectAltName={san}\nextendedKeyUsage=serverAuth,clientAuth\n")
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca[1], "-CAkey", ca[0], "-CAcreateserial", "-days", "1",
                    "-extfile", ext, "-out", cert], check=True, capture_output=True)
    return key, cert


def test_mtls_between_the_manager_and_its_proxies(direct_server, workdir):
    """With a certificate the manager's endpoint speaks mTLS (certificates made by OpenSSL): a
    proxy with a client certificate from the trusted CA is placed; one without, or with a
    certificate from another CA, never gets a session and stays fenced."""
    s = direct_server
    certs = os.path.join(workdir, "certs")
    os.makedirs(certs)
    ca, other_ca = openssl_ca(certs, "mesh-ca"), openssl_ca(certs, "other-ca")
    server_key, server_cert = openssl_leaf(certs, "manager", ca, "IP:127.0.0.1,DNS:localhost")
    client_key, client_cert = openssl_leaf(certs, "proxy", ca, "DNS:cloneset-operator-0")
    rogue_key, rogue_cert = openssl_leaf(certs, "rogue", other_ca, "DNS:rogue")
    mesh = Mesh(s, workdir, managers=1, manager_extra=["--grpc-tls-cert", server_cert, "--grpc-tls-key", server_key,
                                                       "--grpc-client-ca", ca[1]])
    proxies = []
    try:
        s.kubectl("apply", "-f", "-", input=pod_manifest("cloneset-operator-0"))
        good = MeshProxy(workdir, s.kubeconfig, "cloneset-operator-0", mesh.manager_addresses,
                         extra=["--manager-ca", ca[1], "--manager-cert", client_cert, "--manager-key", client_key])
        proxies.append(good)
        mesh.wait_converged(1)
        assert good.status()["shard"] == "cloneset-operator-0"
        for pod, extra in (("cloneset-operator-1", []),
                           ("cloneset-operator-2", ["--manager-ca", ca[1], "--manager-cert", rogue_cert, "--manager-key", rogue_key])):
            s.kubectl("apply", "-f", "-", input=pod_manifest(pod))
            proxy = MeshProxy(workdir, s.kubeconfig, pod, mesh.manager_addresses, extra=extra)
            proxies.append(proxy)
            wait_until(lambda: "disconnected" in proxy.status().get("manager", ""), what=f"{pod} refused")
            assert proxy.status()["shard"] is None
        status = mesh.config()["status"]
        assert [m["pod"] for sh in status["shards"] for m in sh["members"]] == ["cloneset-operator-0"]
        bad_flags = subprocess.run([BINARY, "proxy", "--manager", "127.0.0.1:1", "--pod-name", "x", "--pod-namespace", "y",
                                    "--manager-cert", client_cert], capture_output=True, text=True)
        assert bad_flags.returncode != 0 and "--manager-ca, --manager-cert and --manager-key go together" in bad_flags.stderr
    finally:
        for proxy in proxies:
            proxy.process.stop(sig=9)
        mesh.stop()


def served_certificate(port):
    """The certificate a TLS server presents, as PEM, read with `openssl s_client`."""
    shown = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost"],
                           input="", capture_output=True, text=True, timeout=20).stdout
    start = shown.find("-----BEGIN CERTIFICATE-----")
    end = shown.find("-----END CERTIFICATE-----")
    return shown[start:end + len("-----END CERTIFICATE-----")] if start >= 0 else None


def test_the_webhook_certificate_is_shared_by_replicas_and_renewed(direct_server):
    """Two replicas serve the webhooks with the one certificate kept in a Secret; it is renewed
    with a third of its life left, the bundle keeps the outgoing CA beside the new one, and the
    replicas switch to the new certificate (seen with `openssl s_client`) while the API server
    keeps trusting them."""

    s = direct_server
    s.kubectl("apply", "-f", SHARDING_CRD)
    s.kubectl("create", "namespace", NAMESPACE)

    def replica(name):
        port = free_port()
        return port, Process(["manager", "--kubeconfig", s.kubeconfig, "--listen", f"127.0.0.1:{free_port()}", "--identity", name,
                              "--namespace", NAMESPACE, "--webhook-listen", f"127.0.0.1:{port}",
                              "--webhook-url", f"https://127.0.0.1:{port}", "--webhook-cert-validity", "30"], ready_word="listening")

    def secret():
        data = json.loads(s.kubectl("get", "secret", "ctrlmesh-webhook-tls", "-n", NAMESPACE, "-o", "json").stdout)["data"]
        return {k: base64.b64decode(v).decode() for k, v in data.items()}

    def bundle():
        config = json.loads(s.kubectl("get", "validatingwebhookconfiguration", "ctrlmesh-validation", "-o", "json").stdout)
        return config["webhooks"][0]["clientConfig"], base64.b64decode(config["webhooks"][0]["clientConfig"]["caBundle"]).decode()

    def rejected():
        bad = json.loads(sharding_config())
        bad["spec"]["sharding"]["shards"] = 0
        result = s.kubectl("apply", "-f", "-", input=json.dumps(bad), check=False)
        return result.returncode != 0 and "spec.sharding.shards: Invalid value: 0" in result.stderr

    port_a, a = replica("a")
    port_b, b = None, None
    try:
        first = secret()
        port_b, b = replica("b")
        # B registered itself with the bundle of the certificate A created, and serves that certificate.
        wait_until(lambda: bundle()[0]["url"] == f"https://127.0.0.1:{port_b}/validate-shardingconfig", what="B registered")
        assert bundle()[1] == first["ca.crt"]
        assert served_certificate(port_b).strip() == first["tls.crt"].strip() == served_certificate(port_a).strip()
        assert rejected()

        renewed = wait_until(lambda: (lambda now: now if now["tls.crt"] != first["tls.crt"] else None)(secret()), timeout=40,
                             what="the certificate renewed")
        assert renewed["ca.crt"].count("BEGIN CERTIFICATE") == 2 and first["ca.crt"].strip() in renewed["ca.crt"]
        wait_until(lambda: bundle()[1] == renewed["ca.crt"], what="the renewed bundle registered")
        wait_until(lambda: served_certificate(port_b).strip() == renewed["tls.crt"].strip(), what="B serving the new certificate")
        assert rejected()
    finally:
        a.stop()
        if b:
            b.stop()
