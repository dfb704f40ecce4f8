"""The mesh as processes: `ctrlmesh manager` replicas, and operator pods made of a Pod object, a
`ctrlmesh proxy --manager` and an unchanged `ctrlmesh sample-operator` behind it."""
import json
import os
import subprocess
import threading
import time
import urllib.request

from conftest import BINARY, free_port, metric, wait_until
from operator_process import Process, RECONCILED_BY, operator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MANIFESTS = os.path.join(ROOT, "manifests")
SHARDING_CRD = os.path.join(MANIFESTS, "crds", "ctrlmesh.kruise.io_shardingconfigs.yaml")
NAMESPACE = "ctrlmesh-system"
CONFIG = "cloneset-operator"
# The operator pods' service account: a proxy proves its pod with a token of it bound to the pod.
SERVICE_ACCOUNT = "cloneset-operator"
TOKEN_AUDIENCE = "ctrlmesh-manager"

FNV_OFFSET = 0xcbf29ce484222325
FNV_PRIME = 0x100000001b3


def fnv1a64(text):
    h = FNV_OFFSET
    for byte in text.encode():
        h = ((h ^ byte) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


def sharding_config(replicas_per_shard=1, slots=64, shards=None, mode="ObjectHash", canary=None):
    sharding = {"mode": mode, "replicasPerShard": replicas_per_shard, "slots": slots}
    if shards:
        sharding["shards"] = shards
    spec = {"selector": {"matchLabels": {"app": "cloneset-operator"}},
            "resources": [{"apiGroups": ["apps.kruise.io"], "resources": ["clonesets"]},
                          {"apiGroups": [""], "resources": ["pods"]}],
            "sharding": sharding,
            "leaderElection": {"namespace": NAMESPACE, "name": "cloneset-operator"}}
    if canary:
        spec["canary"] = canary
    return json.dumps({"apiVersion": "ctrlmesh.kruise.io/v1alpha1", "kind": "ShardingConfig",
                       "metadata": {"name": CONFIG, "namespace": NAMESPACE}, "spec": spec})


def pod_manifest(name, labels=None):
    return json.dumps({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": name, "namespace": NAMESPACE,
                                    "labels": {"app": "cloneset-operator", "statefulset.kubernetes.io/pod-name": name, **(labels or {})}},
                       "spec": {"serviceAccountName": SERVICE_ACCOUNT, "containers": [{"name": "operator", "image": "ctrlmesh:dev"}]}})


def pod_token(kubeconfig, directory, pod, account=SERVICE_ACCOUNT):
    """A token of the operators' service account bound to `pod`, for the manager's audience, as
    the kubelet projects it (`kubectl create token`); None when the API server will not issue
    one (no such pod)."""
    result = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "create", "token", account, "-n", NAMESPACE,
                             "--audience", TOKEN_AUDIENCE, "--bound-object-kind", "Pod", "--bound-object-name", pod],
                            capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        return None
    path = os.path.join(directory, "token")
    with open(path, "w") as f:
        f.write(result.stdout.strip())
    return path


class MeshProxy:
    """`ctrlmesh proxy` taking its spec from the managers, proving its pod with a token bound to
    it (`token_of`: another pod's, as an impostor would; False: none)."""

    def __init__(self, workdir, upstream_kubeconfig, pod, managers, lease="3,2,1", extra=(), token_of=None, ports=None):
        self.dir = os.path.join(workdir, pod)
        os.makedirs(self.dir, exist_ok=True)
        # A restarted proxy keeps its ports (`ports`): the operator behind it keeps its kubeconfig.
        self.port, self.admin_port = ports or (free_port(), free_port())
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        token = None if token_of is False else pod_token(upstream_kubeconfig, self.dir, token_of or pod)
        credentials = ["--manager-token-file", token] if token else []
        if "--manager-ca" not in extra:
            credentials.append("--manager-plaintext")  # a local run; the mTLS test brings its own CA
        self.process = Process(["proxy", "--listen", f"127.0.0.1:{self.port}", "--kubeconfig", upstream_kubeconfig,
                                "--manager", ",".join(managers), "--pod-name", pod, "--pod-namespace", NAMESPACE,
                                "--member-lease", lease, "--metrics-listen", f"127.0.0.1:{self.admin_port}",
                                "--kubeconfig-out", self.kubeconfig, *credentials, *extra], ready_word="ready")

    def status(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/status", timeout=10) as r:
            return json.loads(r.read())

    def metric(self, name):
        return metric(self.admin_port, name)


class Mesh:
    """The managers and the operator pods; `members` by StatefulSet ordinal."""

    def __init__(self, server, workdir, managers=2, replicas_per_shard=1, slots=64, manager_extra=(), config=None):
        self.server, self.workdir, self.manager_extra = server, workdir, list(manager_extra)
        server.kubectl("apply", "-f", SHARDING_CRD)
        server.kubectl("create", "namespace", NAMESPACE)
        server.kubectl("create", "serviceaccount", SERVICE_ACCOUNT, "-n", NAMESPACE)
        self.manager_ports = [free_port() for _ in range(managers)]
        self.managers = [self.start_manager(i) for i in range(managers)]
        server.kubectl("apply", "-f", "-", input=config or sharding_config(replicas_per_shard, slots))
        self.members, self.pods = {}, {}

    def start_manager(self, index):
        # A local run: plaintext unless the test brings certificates (the proxies still prove their pods).
        plaintext = [] if "--grpc-tls-cert" in self.manager_extra else ["--grpc-plaintext"]
        return Process(["manager", "--kubeconfig", self.server.kubeconfig, "--listen", f"127.0.0.1:{self.manager_ports[index]}",
                        "--identity", f"manager-{index}", "--namespace", NAMESPACE, "--election-timings", "4,3,1",
                        "--member-skew", "1", *plaintext, *self.manager_extra], ready_word="listening")

    @property
    def manager_addresses(self):
        return [f"127.0.0.1:{p}" for p in self.manager_ports]

    def add(self, ordinal, pod=None, labels=None, operator_extra=()):
        """An operator pod: StatefulSet pod `cloneset-operator-<ordinal>`, or `pod` with extra labels
        (a canary), its proxy and the operator behind it; `members` keys it by `ordinal`."""
        pod = pod or f"cloneset-operator-{ordinal}"
        self.server.kubectl("apply", "-f", "-", input=pod_manifest(pod, labels))
        proxy = MeshProxy(self.workdir, self.server.kubeconfig, pod, self.manager_addresses)
        op = operator(proxy.kubeconfig, pod, leader_elect=True, lease=f"{NAMESPACE}/cloneset-operator", timings="3,2,0.5",
                      extra=operator_extra)
        self.members[ordinal] = (proxy, op)
        self.pods[ordinal] = pod

    def remove(self, ordinal, sig=15):
        """SIGTERM: the operator releases its lock, the proxy fences and releases its lease.
        SIGKILL: both just die, as a node failure would have it."""
        proxy, op = self.members.pop(ordinal)
        pod = self.pods.pop(ordinal)
        op.stop(sig=sig)
        proxy.process.stop(sig=sig)
        if sig != 9:
            self.server.kubectl("delete", "pod", pod, "-n", NAMESPACE)

    def config(self):
        return json.loads(self.server.kubectl("get", "shardingconfig", CONFIG, "-n", NAMESPACE, "-o", "json").stdout)

    def wait_converged(self, shards, timeout=60):
        """Ready, with exactly `shards` shards owning slots and every listed member Ready."""
        def check():
            status = self.config().get("status", {})
            ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", []))
            owning = [s for s in status.get("shards", []) if s.get("slots")]
            members_ready = all(m["state"] == "Ready" for s in status.get("shards", []) for m in s.get("members", []))
            return status if ready and members_ready and len(owning) == shards else None
        return wait_until(check, timeout=timeout, what=f"the mesh converged on {shards} shards")

    def leader(self):
        return wait_until(lambda: json.loads(self.server.kubectl("get", "lease", "ctrlmesh-manager", "-n", NAMESPACE, "-o", "json",
                                                                 check=False).stdout or "{}").get("spec", {}).get("holderIdentity"),
                          what="a manager leader")

    def stop(self):
        for proxy, op in self.members.values():
            op.stop(sig=9)
            proxy.process.stop(sig=9)
        for m in self.managers:
            m.stop(sig=9)


def owner_of(status, uid):
    """The shard whose slots hold FNV-1a 64 of a uid, and the pods in it."""
    slots = status["units"]
    slot = fnv1a64(uid) >> (64 - (slots.bit_length() - 1)) if slots > 1 else 0
    for shard in status["shards"]:
        for part in filter(None, shard.get("slots", "").split(",")):
            low, _, high = part.partition("-")
            if int(low) <= slot <= int(high or low):
                return shard["name"], {m["pod"] for m in shard.get("members", [])}
    return None, set()


def audit(server_url):
    """The API server's record of proxy-stamped writes, checked independently of the Swift
    audit: per ownership key, the spans of (shard, epoch) must not overlap across shards."""
    with urllib.request.urlopen(f"{server_url}/debug/ctrlmesh/writes", timeout=30) as r:
        items = json.loads(r.read())["items"]
    spans = {}
    for w in items:
        if (w["group"], w["resource"]) not in (("apps.kruise.io", "clonesets"), ("", "pods")):
            continue
        key = w.get("controllerUID") or w["uid"]
        span = spans.setdefault(key, {}).setdefault((w["shard"], w["epoch"]), [w["resourceVersion"], w["resourceVersion"]])
        span[0], span[1] = min(span[0], w["resourceVersion"]), max(span[1], w["resourceVersion"])
    violations, moved = [], 0
    for key, by in spans.items():
        if len({shard for shard, _ in by}) > 1:
            moved += 1
        entries = sorted(by.items(), key=lambda e: e[1][0])
        for i, ((s1, e1), (a1, b1)) in enumerate(entries):
            for (s2, e2), (a2, b2) in entries[i + 1:]:
                if s1 != s2 and a2 <= b1:
                    violations.append(f"{key}: {s1}@{e1} rv {a1}..{b1} overlaps {s2}@{e2} rv {a2}..{b2}")
    return len(items), len(spans), moved, violations


class Churn:
    """Scales CloneSets up and down in the background while the mesh changes shape."""

    def __init__(self, server, clonesets):
        self.server, self.clonesets = server, clonesets
        self.stopped = threading.Event()
        self.patches = 0
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        i = 0
        while not self.stopped.is_set():
            ns, name = self.clonesets[i % len(self.clonesets)]
            self.server.kubectl("patch", "cloneset", name, "-n", ns, "--type", "merge",
                                "-p", json.dumps({"spec": {"replicas": 1 + (i % 3)}}), check=False)
            self.patches += 1
            i += 7
            time.sleep(0.2)

    def stop(self):
        self.stopped.set()
        self.thread.join(timeout=30)


def reconciled_by(cloneset):
    return cloneset["metadata"].get("annotations", {}).get(RECONCILED_BY)


__all__ = ["BINARY", "Mesh", "MeshProxy", "Churn", "audit", "owner_of", "reconciled_by", "fnv1a64", "sharding_config",
           "pod_manifest", "NAMESPACE", "CONFIG", "MANIFESTS", "SHARDING_CRD"]
