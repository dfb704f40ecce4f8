"""The fence where writes land. A proxy paused with a write in hand can outlive its lease, its
revocation and every check it made: when it resumes, the write leaves stamped with the shard and
epoch it was admitted under. The API server must refuse it once the key has been granted to
another shard: natively in the embedded server, or by the manager's validating webhook (the path
a real kube-apiserver takes, reading the stamp from `userInfo.extra`). Without either, the late
write lands: the case the fence exists for."""
import json
import os
import signal
import urllib.error
import urllib.request

import pytest
import yaml

from conftest import Server, free_port, wait_until
from mesh_process import CONFIG, NAMESPACE, Mesh, MeshProxy, owner_of, pod_manifest
from operator_process import CLONESET_CRD
from test_operator import cloneset

MESH = f"ctrlmesh.kruise.io/{NAMESPACE}/{CONFIG}"


def stamped(server_url, method, path, body, shard, epoch, mesh=MESH):
    """A write carrying a proxy's stamp, sent straight to the API server: what a frozen proxy's
    admitted write looks like when it finally leaves."""
    headers = {"Content-Type": "application/merge-patch+json", "Impersonate-User": "system:serviceaccount:ctrlmesh-system:cloneset-operator",
               "Impersonate-Extra-ctrlmesh.kruise.io%2Fmesh": mesh, "Impersonate-Extra-ctrlmesh.kruise.io%2Fshard": shard,
               "Impersonate-Extra-ctrlmesh.kruise.io%2Fepoch": str(epoch)}
    request = urllib.request.Request(server_url + path, data=json.dumps(body).encode(), method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def writes(server_url):
    with urllib.request.urlopen(f"{server_url}/debug/ctrlmesh/writes", timeout=10) as r:
        return json.loads(r.read())["items"]


@pytest.mark.parametrize("fence", ["native", "webhook", "none"])
def test_a_paused_proxys_late_write_is_refused_where_it_lands(workdir, fence):
    server = Server(workdir, extra=["--bookmark-interval", "1"] + ([] if fence == "native" else ["--no-mesh-fence"])).start()
    manager_extra = []
    if fence == "webhook":
        port = free_port()
        manager_extra = ["--webhook-listen", f"127.0.0.1:{port}", "--webhook-url", f"https://127.0.0.1:{port}", "--fence-webhook"]
    server.kubectl("apply", "-f", CLONESET_CRD)
    server.kubectl("create", "namespace", "apps")
    mesh = Mesh(server, workdir, managers=1, manager_extra=manager_extra)
    proxies = {}
    try:
        for ordinal in range(2):
            pod = f"cloneset-operator-{ordinal}"
            server.kubectl("apply", "-f", "-", input=pod_manifest(pod))
            proxies[pod] = MeshProxy(workdir, server.kubeconfig, pod, mesh.manager_addresses, lease="3,2,1")
        status = mesh.wait_converged(2)
        if fence == "webhook":
            wait_until(lambda: server.kubectl("get", "validatingwebhookconfiguration", "ctrlmesh-write-fence", check=False).returncode == 0,
                       what="the fence webhook registered")
        server.kubectl("apply", "-f", "-", input="---\n".join(cloneset(f"app-{i}", "apps", 1) for i in range(12)))
        items = json.loads(server.kubectl("get", "clonesets", "-n", "apps", "-o", "json").stdout)["items"]
        victim = next(cs["metadata"]["name"] for cs in items if owner_of(status, cs["metadata"]["uid"])[0] == "cloneset-operator-0")
        old, new = proxies["cloneset-operator-0"], proxies["cloneset-operator-1"]

        # The owner writes through its proxy: the write is stamped with its shard and epoch.
        server.kubectl("--kubeconfig", old.kubeconfig, "patch", "cloneset", victim, "-n", "apps", "--type", "merge",
                       "-p", '{"metadata":{"labels":{"written-by":"old-owner"}}}')
        mine = [w for w in writes(server.url) if w["name"] == victim and w["shard"] == "cloneset-operator-0"]
        assert mine, "the owner's write is recorded under its stamp"
        epoch = mine[-1]["epoch"]
        path = f"/apis/apps.kruise.io/v1alpha1/namespaces/apps/clonesets/{victim}"

        # Frozen: no renewals, no heartbeats; its session stays open. The manager takes it for
        # dead once its lease expired and grants its slots to the other shard.
        os.kill(old.process.proc.pid, signal.SIGSTOP)
        try:
            wait_until(lambda: (lambda st: st if owner_of(st, items[0]["metadata"]["uid"])[0] == "cloneset-operator-1"
                                and all(s["name"] == "cloneset-operator-1" for s in st["shards"] if s.get("slots")) else None)(
                                    mesh.config().get("status", {})), timeout=30, what="the frozen shard's slots granted to the other")
            grants = mesh.config()["status"]["grants"]
            assert {h["shard"] for h in grants["holders"]} == {"cloneset-operator-1"}, grants
            # The frozen shard's slots were granted last, at the highest epoch.
            new_epoch = max(h["epoch"] for h in grants["holders"])
            assert new_epoch > epoch
            # The new owner writes.
            server.kubectl("--kubeconfig", new.kubeconfig, "patch", "cloneset", victim, "-n", "apps", "--type", "merge",
                           "-p", '{"metadata":{"labels":{"written-by":"new-owner"}}}')
            # The frozen proxy's admitted write leaves late, under its old stamp.
            code, body = stamped(server.url, "PATCH", path, {"metadata": {"labels": {"written-by": "stale"}}}, "cloneset-operator-0", epoch)
            label = json.loads(server.kubectl("get", "cloneset", victim, "-n", "apps", "-o", "json").stdout)["metadata"]["labels"]["written-by"]
            if fence == "none":
                assert code == 200 and label == "stale", "without a fence the late write lands over the new owner's"
                return
            assert code == 403, body
            assert "cloneset-operator-1" in body and f"epoch {new_epoch}" in body, body
            assert label == "new-owner"
            # The same stamp is refused for a delete, and a stamp of an epoch before the grant
            # is refused even for the shard that holds the key now.
            code, _ = stamped(server.url, "DELETE", path, {}, "cloneset-operator-0", epoch)
            assert code == 403
            code, body = stamped(server.url, "PATCH", path, {"metadata": {"labels": {"x": "y"}}}, "cloneset-operator-1", new_epoch - 1)
            assert code == 403, body
            code, _ = stamped(server.url, "PATCH", path, {"metadata": {"labels": {"x": "y"}}}, "cloneset-operator-1", new_epoch)
            assert code == 200
            # A stamp naming no ShardingConfig, or half a stamp, is refused too.
            code, _ = stamped(server.url, "PATCH", path, {"metadata": {"labels": {"x": "z"}}}, "cloneset-operator-1", new_epoch,
                              mesh="ctrlmesh.kruise.io/ctrlmesh-system/no-such-config")
            assert code == 403
        finally:
            os.kill(old.process.proc.pid, signal.SIGCONT)
        # Resumed, the old proxy's lease has lapsed: it writes nothing until it is a member again,
        # and then only what it is granted.
        code = server.kubectl("--kubeconfig", old.kubeconfig, "patch", "cloneset", victim, "-n", "apps", "--type", "merge",
                              "-p", '{"metadata":{"labels":{"written-by":"resumed"}}}', check=False)
        assert code.returncode != 0 or owner_of(mesh.config()["status"], json.loads(
            server.kubectl("get", "cloneset", victim, "-n", "apps", "-o", "json").stdout)["metadata"]["uid"])[0] == "cloneset-operator-0"
        mesh.wait_converged(2, timeout=60)
    finally:
        for proxy in proxies.values():
            proxy.process.stop(sig=9)
        mesh.stop()
        server.kill()


def test_writes_through_the_mesh_reach_the_server_stamped_and_unforgeable(workdir):
    """An operator cannot stamp its own writes: whatever it sends under the stamp's names is
    dropped by its proxy, which stamps the write itself."""
    server = Server(workdir, extra=["--bookmark-interval", "1"]).start()
    server.kubectl("apply", "-f", CLONESET_CRD)
    server.kubectl("create", "namespace", "apps")
    mesh = Mesh(server, workdir, managers=1)
    proxy = None
    try:
        server.kubectl("apply", "-f", "-", input=pod_manifest("cloneset-operator-0"))
        proxy = MeshProxy(workdir, server.kubeconfig, "cloneset-operator-0", mesh.manager_addresses)
        mesh.wait_converged(1)
        forged = {"Content-Type": "application/json", "Impersonate-Extra-ctrlmesh.kruise.io%2Fshard": "someone-else",
                  "impersonate-extra-CTRLMESH.kruise.io%2fepoch": "999999", "Impersonate-Extra-ctrlmesh.kruise.io%2Fmesh": "x/y/z"}
        request = urllib.request.Request(f"http://127.0.0.1:{proxy.port}/apis/apps.kruise.io/v1alpha1/namespaces/apps/clonesets",
                                         data=json.dumps(yaml.safe_load(cloneset("forged", "apps", 1))).encode(), method="POST", headers=forged)
        with urllib.request.urlopen(request, timeout=10) as r:
            assert r.status == 201
        record = [w for w in writes(server.url) if w["name"] == "forged"]
        status = mesh.config()["status"]
        assert [(w["shard"], w["epoch"]) for w in record] == [("cloneset-operator-0", int(status["shards"][0]["epoch"]))], record
    finally:
        if proxy:
            proxy.process.stop(sig=9)
        mesh.stop()
        server.kill()


def test_the_mesh_control_objects_cannot_be_written_through_a_proxy_and_a_deleted_pod_loses_its_session(workdir):
    """The grant record the fence judges by, the mesh's policies and the members' liveness leases
    are written by the manager and the proxies themselves, never by an operator through its proxy.
    A session speaks for its pod only while that pod exists: deleted, its proxy is cut off and
    fenced. A token of another service account cannot be bound to an operator's pod."""
    server = Server(workdir, extra=["--bookmark-interval", "1"]).start()
    server.kubectl("apply", "-f", CLONESET_CRD)
    server.kubectl("create", "namespace", "apps")
    mesh = Mesh(server, workdir, managers=1)
    proxies = []
    try:
        for ordinal in range(2):
            server.kubectl("apply", "-f", "-", input=pod_manifest(f"cloneset-operator-{ordinal}"))
            proxies.append(MeshProxy(workdir, server.kubeconfig, f"cloneset-operator-{ordinal}", mesh.manager_addresses))
        mesh.wait_converged(2)
        port = proxies[0].port
        forged = {"status": {"grants": {"term": 1 << 62, "holders": [{"shard": "cloneset-operator-0", "epoch": 0, "units": "0-63"}]}}}
        for method, path, body in (
                ("PATCH", f"/apis/ctrlmesh.kruise.io/v1alpha1/namespaces/{NAMESPACE}/shardingconfigs/{CONFIG}/status", forged),
                ("PATCH", f"/apis/ctrlmesh.kruise.io/v1alpha1/namespaces/{NAMESPACE}/shardingconfigs/{CONFIG}", {"spec": {"resources": []}}),
                ("PATCH", f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases/ctrlmesh-member-cloneset-operator-1",
                 {"spec": {"holderIdentity": ""}})):
            request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method=method,
                                             headers={"Content-Type": "application/merge-patch+json"})
            try:
                urllib.request.urlopen(request, timeout=10)
                raise AssertionError(f"{method} {path} went through")
            except urllib.error.HTTPError as e:
                assert e.code == 403, (path, e.code, e.read())
        status = mesh.config()["status"]
        assert status["grants"]["term"] < 1 << 62 and {h["shard"] for h in status["grants"]["holders"]} == {"cloneset-operator-0", "cloneset-operator-1"}
        assert server.kubectl("--kubeconfig", proxies[0].kubeconfig, "get", "shardingconfig", CONFIG, "-n", NAMESPACE).returncode == 0

        # The API server binds a token only to a pod that runs as its service account.
        server.kubectl("create", "serviceaccount", "evil", "-n", NAMESPACE)
        refused = server.kubectl("create", "token", "evil", "-n", NAMESPACE, "--audience", "ctrlmesh-manager",
                                 "--bound-object-kind", "Pod", "--bound-object-name", "cloneset-operator-0", check=False)
        assert refused.returncode != 0 and "runs as service account cloneset-operator" in refused.stderr, refused.stderr

        # Deleted, the pod's proxy loses its session and fences.
        server.kubectl("delete", "pod", "cloneset-operator-1", "-n", NAMESPACE, "--wait=false")
        wait_until(lambda: proxies[1].status()["shard"] is None, timeout=30, what="the deleted pod's proxy fenced")
        mesh.wait_converged(1, timeout=60)
    finally:
        for proxy in proxies:
            proxy.process.stop(sig=9)
        mesh.stop()
        server.kill()
