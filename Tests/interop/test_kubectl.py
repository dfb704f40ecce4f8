"""kubectl 1.32 against a running `ctrlmesh apiserver`."""
import json
import os
import queue
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "Tests", "fixtures", "kruise")

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: team-a
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: nginx, image: "IMAGE", ports: [{containerPort: 80}]}
      - {name: sidecar, image: busybox}
"""


def test_create_apply_get_patch_delete(server):
    k = server.kubectl
    assert "namespace/team-a created" in k("create", "namespace", "team-a").stdout
    k("create", "configmap", "settings", "-n", "team-a", "--from-literal=a=1")

    # apply twice: the second apply patches (strategic merge for a built-in kind)
    k("apply", "-f", "-", input=DEPLOYMENT.replace("IMAGE", "nginx:1.25"))
    out = k("apply", "-f", "-", input=DEPLOYMENT.replace("IMAGE", "nginx:1.26")).stdout
    assert "configured" in out
    dep = json.loads(k("get", "deployment", "web", "-n", "team-a", "-o", "json").stdout)
    images = [c["image"] for c in dep["spec"]["template"]["spec"]["containers"]]
    assert images == ["nginx:1.26", "busybox"]
    assert dep["metadata"]["generation"] == 2
    assert "kubectl.kubernetes.io/last-applied-configuration" in dep["metadata"]["annotations"]

    # Table output has real columns
    table = k("get", "configmaps", "-n", "team-a").stdout
    assert table.split("\n")[0].split() == ["NAME", "DATA", "AGE"]
    assert "settings" in table and " 1 " in table

    k("label", "configmap", "settings", "-n", "team-a", "tier=gold")
    k("annotate", "configmap", "settings", "-n", "team-a", "note=hello")
    k("patch", "configmap", "settings", "-n", "team-a", "--type", "merge", "-p", '{"data":{"m":"merge"}}')
    k("patch", "configmap", "settings", "-n", "team-a", "--type", "json", "-p", '[{"op":"add","path":"/data/j","value":"json"}]')
    k("patch", "deployment", "web", "-n", "team-a", "--type", "strategic",
      "-p", '{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox:2"}]}}}}')
    cm = json.loads(k("get", "configmap", "settings", "-n", "team-a", "-o", "json").stdout)
    assert cm["data"] == {"a": "1", "m": "merge", "j": "json"}
    assert cm["metadata"]["labels"] == {"tier": "gold"}
    assert cm["metadata"]["annotations"]["note"] == "hello"
    dep = json.loads(k("get", "deployment", "web", "-n", "team-a", "-o", "json").stdout)
    assert [c["image"] for c in dep["spec"]["template"]["spec"]["containers"]] == ["nginx:1.26", "busybox:2"]

    assert k("get", "configmaps", "-n", "team-a", "--selector", "tier=gold", "-o", "name").stdout.split() == ["configmap/settings"]
    assert k("get", "configmaps", "-n", "team-a", "--selector", "tier!=gold", "-o", "name").stdout.split() == []

    # a failed json-patch test op is a 422
    r = k("patch", "configmap", "settings", "-n", "team-a", "--type", "json",
          "-p", '[{"op":"test","path":"/data/a","value":"nope"}]', check=False)
    assert r.returncode != 0 and "test failed" in r.stderr

    # delete waits for the object to go
    assert 'configmap "settings" deleted' in k("delete", "configmap", "settings", "-n", "team-a").stdout
    r = k("get", "configmap", "settings", "-n", "team-a", check=False)
    assert r.returncode != 0 and "NotFound" in r.stderr


def test_api_resources_lists_builtins(server):
    out = server.kubectl("api-resources").stdout
    for name in ["pods", "configmaps", "leases", "deployments", "customresourcedefinitions", "mutatingwebhookconfigurations"]:
        assert name in out


def test_scale_subresource(server):
    """`kubectl scale` on a custom resource with a scale subresource and on a Deployment."""
    k = server.kubectl
    k("apply", "-f", os.path.join(FIXTURES, "crds", "apps.kruise.io_clonesets.yaml"))
    k("apply", "-f", os.path.join(FIXTURES, "apps_v1alpha1_cloneset.yaml"))
    assert "scaled" in k("scale", "cloneset", "sample", "--replicas", "7").stdout
    scale = json.loads(k("get", "--raw", "/apis/apps.kruise.io/v1alpha1/namespaces/default/clonesets/sample/scale").stdout)
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1" and scale["spec"]["replicas"] == 7
    cs = json.loads(k("get", "cloneset", "sample", "-o", "json").stdout)
    assert cs["spec"]["replicas"] == 7 and cs["metadata"]["generation"] == 2
    # A PUT of a Scale with a stale resourceVersion is a conflict; a negative count is invalid.
    path = "/apis/apps.kruise.io/v1alpha1/namespaces/default/clonesets/sample/scale"
    stale = dict(scale, metadata=dict(scale["metadata"], resourceVersion="1"), spec={"replicas": 2})
    r = k("replace", "--raw", path, "-f", "-", input=json.dumps(stale), check=False)
    assert r.returncode != 0 and "the object has been modified" in r.stderr
    negative = dict(scale, spec={"replicas": -1})
    r = k("replace", "--raw", path, "-f", "-", input=json.dumps(negative), check=False)
    assert r.returncode != 0 and "non-negative" in r.stderr
    k("create", "namespace", "team-a")
    k("apply", "-f", "-", input=DEPLOYMENT.replace("IMAGE", "nginx:1.25"))
    assert "scaled" in k("scale", "deployment", "web", "-n", "team-a", "--replicas", "4").stdout
    scale = json.loads(k("get", "--raw", "/apis/apps/v1/namespaces/team-a/deployments/web/scale").stdout)
    assert scale["spec"]["replicas"] == 4 and scale["status"]["selector"] == "app=web"
    resources = k("api-resources").stdout
    assert "clonesets" in resources


def test_crd_and_custom_resources(server):
    k = server.kubectl
    k("apply", "-f", os.path.join(FIXTURES, "crds", "apps.kruise.io_clonesets.yaml"))
    sample = os.path.join(FIXTURES, "apps_v1alpha1_cloneset.yaml")
    assert "created" in k("apply", "-f", sample).stdout
    assert "unchanged" in k("apply", "-f", sample).stdout
    table = k("get", "clonesets").stdout
    header = table.split("\n")[0].split()
    assert header[:2] == ["NAME", "DESIRED"] and "AGE" in header
    assert "sample" in table and " 5 " in table
    k("patch", "cloneset", "sample", "--type", "merge", "-p", '{"spec":{"replicas":3}}')
    cs = json.loads(k("get", "cloneset", "sample", "-o", "json").stdout)
    assert cs["spec"]["replicas"] == 3 and cs["metadata"]["generation"] == 2
    # strategic merge is not for custom resources
    r = k("patch", "cloneset", "sample", "--type", "strategic", "-p", '{"spec":{"replicas":4}}', check=False)
    assert r.returncode != 0 and "unknown format" in r.stderr
    # deleting the CRD removes its objects and its discovery entry
    k("delete", "crd", "clonesets.apps.kruise.io")
    r = k("get", "clonesets", check=False)
    assert r.returncode != 0


def test_all_kruise_crds_load(server):
    out = server.kubectl("apply", "-f", os.path.join(FIXTURES, "crds")).stdout
    assert out.count("created") == len(os.listdir(os.path.join(FIXTURES, "crds")))
    assert "broadcastjobs" in server.kubectl("api-resources", "--api-group", "apps.kruise.io").stdout


def watch_lines(server, args, action, expect, timeout=20):
    """Runs `kubectl get -w ...`, performs `action` once it is watching, collects lines until
    `expect(lines)` holds."""
    cmd = ["kubectl", "--kubeconfig", server.client_kubeconfig, "--cache-dir", server.cache_dir, *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(l.rstrip("\n")) for l in proc.stdout], daemon=True).start()
    seen = []
    try:
        time.sleep(1.5)  # let kubectl list and start watching
        action()
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                seen.append(lines.get(timeout=0.2))
            except queue.Empty:
                pass
            if expect(seen):
                return seen
        raise AssertionError(f"watch did not see the expected events: {seen}")
    finally:
        proc.kill()


def test_get_watch_collection_and_name(server):
    k = server.kubectl
    k("create", "namespace", "w")
    k("create", "configmap", "one", "-n", "w")

    lines = watch_lines(server, ["get", "-w", "configmaps", "-n", "w"],
                        lambda: k("create", "configmap", "two", "-n", "w"),
                        lambda ls: any(l.startswith("two") for l in ls))
    assert any(l.startswith("one") for l in lines)

    lines = watch_lines(server, ["get", "-w", "configmap", "one", "-n", "w", "-o", "name"],
                        lambda: k("label", "configmap", "one", "-n", "w", "x=y"),
                        lambda ls: len(ls) >= 2)
    assert all(l == "configmap/one" for l in lines)


def test_bad_input_answers_status(server):
    k = server.kubectl
    r = k("create", "namespace", "Bad_Name", check=False)
    assert r.returncode != 0 and "Invalid value" in r.stderr
    r = k("create", "configmap", "x", "-n", "does-not-exist", check=False)
    assert r.returncode != 0 and 'namespaces "does-not-exist" not found' in r.stderr
    r = k("get", "configmaps", "--field-selector", "spec.nothing=1", check=False)
    assert r.returncode != 0 and "field label not supported" in r.stderr
