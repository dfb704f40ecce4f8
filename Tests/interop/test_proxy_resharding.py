"""Live spec changes with real clients watching, and leader election per shard through the
leader-lock rename, with the Python client's own LeaderElection."""
import subprocess
import sys
import threading
import time
import urllib.error

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from conftest import Proxy, wait_until
from kube_http import Client, WatchStream, parallel

NAMESPACES = [f"ns-{i}" for i in range(10)]


def names_spec(owned, epoch):
    return (f"shard: shard-a\nepoch: {epoch}\n"
            "resources:\n- {apiGroups: [\"\"], resources: [configmaps], key: namespace}\n"
            f"owned:\n  namespaces: [{', '.join(owned)}]\n")


class Informer:
    """A list-then-watch loop over the Python client that relists on 410, as an informer
    does; it records each watch session's events."""

    def __init__(self, kubeconfig):
        self.v1 = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))
        self.cache = {}
        self.sessions = []  # [events] per watch session
        self.first_expired_session = None
        self.expired = 0
        self.lock = threading.Lock()
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        try:
            self.loop()
        except Exception:
            if not self.stop:
                raise

    def loop(self):
        while not self.stop:
            listing = self.v1.list_config_map_for_all_namespaces()
            with self.lock:
                self.cache = {(i.metadata.namespace, i.metadata.name): i.metadata.resource_version for i in listing.items}
                events = []
                self.sessions.append(events)
            try:
                for event in watch.Watch().stream(self.v1.list_config_map_for_all_namespaces, allow_watch_bookmarks=True,
                                                  resource_version=listing.metadata.resource_version, timeout_seconds=60):
                    if self.stop:
                        return
                    obj = event["object"]
                    if event["type"] == "BOOKMARK":
                        continue
                    k = (obj.metadata.namespace, obj.metadata.name)
                    with self.lock:
                        events.append((event["type"], k))
                        if event["type"] == "DELETED":
                            self.cache.pop(k, None)
                        else:
                            self.cache[k] = obj.metadata.resource_version
            except ApiException as e:
                if e.status != 410:
                    raise
                with self.lock:
                    self.expired += 1
                    if self.first_expired_session is None:
                        self.first_expired_session = len(self.sessions) - 1

    def keys(self):
        with self.lock:
            return set(self.cache)


def test_live_spec_change_relists_clients_onto_the_new_slice(direct_server, workdir):
    server = direct_server
    direct = Client(server.url)
    parallel(lambda ns: direct.ok("POST", "/api/v1/namespaces", {"metadata": {"name": ns}}), NAMESPACES)
    parallel(lambda ns: [direct.ok("POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": f"cm-{i}"}})
                         for i in range(20)], NAMESPACES)
    proxy = Proxy(workdir, server.kubeconfig, spec=names_spec(NAMESPACES[:5], 1)).start()
    try:
        proxy.wait_applied(1)
        via = Client(proxy.url)
        old_list = via.ok("GET", "/api/v1/configmaps?limit=30")
        old_rv, old_continue = old_list["metadata"]["resourceVersion"], old_list["metadata"]["continue"]

        def direct_keys(namespaces):
            items, _ = direct.list_all("/api/v1/configmaps")
            return {(i["metadata"]["namespace"], i["metadata"]["name"]) for i in items if i["metadata"]["namespace"] in namespaces}

        informer = Informer(proxy.kubeconfig)
        wait_until(lambda: informer.keys() == direct_keys(NAMESPACES[:5]), timeout=20, interval=0.05, what="the informer to sync epoch 1")
        raw = WatchStream(proxy.url, f"/api/v1/configmaps?watch=true&resourceVersion={old_rv}")

        churning = threading.Event()
        churning.set()

        def churn():
            n = 0
            while churning.is_set():
                ns = NAMESPACES[n % len(NAMESPACES)]
                direct.request("PATCH", f"/api/v1/namespaces/{ns}/configmaps/cm-{n % 20}", {"data": {"n": str(n)}},
                               content_type="application/merge-patch+json")
                n += 1
                time.sleep(0.005)
        churner = threading.Thread(target=churn, daemon=True)
        churner.start()
        time.sleep(1)

        proxy.write_spec(names_spec(NAMESPACES[3:8], 2))
        proxy.wait_applied(2)
        time.sleep(1)
        churning.clear()
        churner.join()

        # The informer was told to relist (410) and converged on exactly the new slice.
        wait_until(lambda: informer.keys() == direct_keys(NAMESPACES[3:8]), timeout=20, interval=0.05, what="the informer to converge on epoch 2")
        assert informer.expired >= 1
        with informer.lock:
            # The session the change ended, the ones before it, and the ones after the relist.
            cut = informer.first_expired_session
            earlier, later = informer.sessions[:cut + 1], informer.sessions[cut + 1:]
        assert later, "no watch session after the relist"
        for events in later:
            assert all(ns in NAMESPACES[3:8] for _, (ns, _) in events), events
        for events in earlier:
            assert all(ns in NAMESPACES[:5] for _, (ns, _) in events)
        # The raw watch that was open ended with a 410 ERROR event.
        assert raw.ended.wait(10)
        last = raw.snapshot()[-1]
        assert last["type"] == "ERROR" and last["object"]["code"] == 410, last
        # A client resuming from a resourceVersion served before the change must relist too,
        # and a continue token from before the change has expired.
        stale = WatchStream(proxy.url, f"/api/v1/configmaps?watch=true&resourceVersion={old_rv}")
        assert stale.ended.wait(10)
        assert stale.snapshot()[0]["type"] == "ERROR" and stale.snapshot()[0]["object"]["code"] == 410
        status, body = via.request("GET", "/api/v1/configmaps?limit=30&continue=" + old_continue)
        assert status == 410 and body["reason"] == "Expired", body
        # ...while a watch from a fresh list continues normally.
        fresh_rv = via.ok("GET", "/api/v1/configmaps")["metadata"]["resourceVersion"]
        fresh = WatchStream(proxy.url, f"/api/v1/configmaps?watch=true&resourceVersion={fresh_rv}&timeoutSeconds=2")
        direct.ok("PATCH", "/api/v1/namespaces/ns-6/configmaps/cm-1", {"data": {"n": "fresh"}}, content_type="application/merge-patch+json")
        assert fresh.ended.wait(10)
        assert [e["type"] for e in fresh.snapshot()] == ["MODIFIED"]
        informer.stop = True
    finally:
        proxy.kill()


ELECTOR = r"""
import sys, threading, time, os
from kubernetes import config
from kubernetes.leaderelection import leaderelection, electionconfig
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock
config.load_kube_config(config_file=sys.argv[1])
me, run_for = sys.argv[2], float(sys.argv[3])
def lead():
    print("LEADER", me, time.time(), flush=True)
cfg = electionconfig.Config(LeaseLock("operator-lock", "default", me), lease_duration=4, renew_deadline=3, retry_period=1,
                            onstarted_leading=lead, onstopped_leading=lambda: None)
threading.Thread(target=leaderelection.LeaderElection(cfg).run, daemon=True).start()
time.sleep(run_for)
os._exit(0)
"""


def lock_spec(shard):
    return (f"shard: {shard}\nepoch: 1\nresources: []\n"
            "leaderElection: {resource: leases, namespace: default, name: operator-lock}\n")


def elect(script, kubeconfig, me, run_for):
    return subprocess.Popen([sys.executable, str(script), kubeconfig, me, str(run_for)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def leaders(proc):
    out, _ = proc.communicate(timeout=60)
    return [line for line in out.splitlines() if line.startswith("LEADER")]


def test_each_shard_elects_its_own_leader(direct_server, workdir, tmp_path):
    server = direct_server
    script = tmp_path / "elector.py"
    script.write_text(ELECTOR)
    a = Proxy(workdir, server.kubeconfig, spec=lock_spec("shard-a"), name="a").start()
    b = Proxy(workdir, server.kubeconfig, spec=lock_spec("shard-b"), name="b").start()
    try:
        a.wait_applied(1)
        b.wait_applied(1)
        # Different shards: both lead at the same time.
        one = elect(script, a.kubeconfig, "one", 8)
        two = elect(script, b.kubeconfig, "two", 8)
        l1, l2 = one.stdout.readline(), two.stdout.readline()
        assert l1.startswith("LEADER one") and l2.startswith("LEADER two"), (l1, l2)
        assert abs(float(l1.split()[2]) - float(l2.split()[2])) < 3
        # Same shard as "one", while "one" still leads: never leads.
        three = elect(script, a.kubeconfig, "three", 3)
        assert leaders(three) == []
        # Upstream there is one lease per shard; through a proxy the operator sees its own name.
        direct = Client(server.url)
        held = {n: direct.ok("GET", f"/apis/coordination.k8s.io/v1/namespaces/default/leases/{n}")["spec"]["holderIdentity"]
                for n in ("operator-lock---shard-a", "operator-lock---shard-b")}
        assert held == {"operator-lock---shard-a": "one", "operator-lock---shard-b": "two"}
        status, _ = direct.request("GET", "/apis/coordination.k8s.io/v1/namespaces/default/leases/operator-lock")
        assert status == 404
        seen = Client(a.url).ok("GET", "/apis/coordination.k8s.io/v1/namespaces/default/leases/operator-lock")
        assert seen["metadata"]["name"] == "operator-lock" and seen["spec"]["holderIdentity"] == "one"
        assert a.metric("ctrlmesh_proxy_leader_lock_renames_total") > 0
        one.wait(20)
        two.wait(20)
    finally:
        a.kill()
        b.kill()


def test_namespace_selectors_follow_label_changes(direct_server, workdir):
    server = direct_server
    direct = Client(server.url)
    for ns, tier in (("gold-1", "gold"), ("gold-2", "gold"), ("lead-1", "lead")):
        direct.ok("POST", "/api/v1/namespaces", {"metadata": {"name": ns, "labels": {"tier": tier}}})
        direct.ok("POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "cm"}})
    spec = ("shard: gold\nepoch: 1\nresources:\n- {apiGroups: [\"\"], resources: [configmaps, namespaces], key: namespace}\n"
            "owned:\n  namespaceSelectors: ['tier=gold']\n")
    proxy = Proxy(workdir, server.kubeconfig, spec=spec).start()
    try:
        proxy.wait_applied(1)
        via = Client(proxy.url)

        def seen():
            return sorted(i["metadata"]["namespace"] for i in via.ok("GET", "/api/v1/configmaps")["items"])
        wait_until(lambda: seen() == ["gold-1", "gold-2"], timeout=20, interval=0.05, what="the label cache to fill")
        assert sorted(i["metadata"]["name"] for i in via.ok("GET", "/api/v1/namespaces")["items"]) == ["gold-1", "gold-2"]
        status, _ = via.request("POST", "/api/v1/namespaces/lead-1/configmaps", {"metadata": {"name": "x"}})
        assert status == 403
        rv = via.ok("GET", "/api/v1/configmaps")["metadata"]["resourceVersion"]
        watch = WatchStream(proxy.url, f"/api/v1/configmaps?watch=true&resourceVersion={rv}")
        # Relabelling moves lead-1 into the shard: namespace-keyed watches are sent to relist.
        direct.ok("PATCH", "/api/v1/namespaces/lead-1", {"metadata": {"labels": {"tier": "gold"}}},
                  content_type="application/merge-patch+json")
        assert watch.ended.wait(10)
        assert watch.snapshot()[-1]["type"] == "ERROR" and watch.snapshot()[-1]["object"]["code"] == 410
        assert seen() == ["gold-1", "gold-2", "lead-1"]
        assert via.request("POST", "/api/v1/namespaces/lead-1/configmaps", {"metadata": {"name": "x"}})[0] == 201
    finally:
        proxy.kill()


def test_without_a_spec_the_proxy_fails_closed(direct_server, workdir):
    server = direct_server
    direct = Client(server.url)
    direct.ok("POST", "/api/v1/namespaces", {"metadata": {"name": "closed"}})
    direct.ok("POST", "/api/v1/namespaces/closed/configmaps", {"metadata": {"name": "cm"}})
    proxy = Proxy(workdir, server.kubeconfig).start()  # its spec file does not exist yet
    try:
        via = Client(proxy.url)
        assert proxy.status()["appliedEpoch"] is None
        assert via.ok("GET", "/api/v1/configmaps")["items"] == []
        assert via.ok("GET", "/api/v1/namespaces")["items"] == []
        status, body = via.request("POST", "/api/v1/namespaces/closed/configmaps", {"metadata": {"name": "x"}})
        assert status == 403 and "has not received a shard spec" in body["message"]
        assert via.request("GET", "/api/v1/namespaces/closed/configmaps/cm")[0] == 403
        assert via.ok("GET", "/version")["gitVersion"]  # non-resource paths still pass
        try:
            proxy.admin("/readyz")
            raise AssertionError("ready without a spec")
        except urllib.error.HTTPError as e:
            assert e.code == 503
        proxy.write_spec(names_spec(["closed"], 1))
        proxy.wait_applied(1)
        assert [i["metadata"]["name"] for i in via.ok("GET", "/api/v1/configmaps")["items"]] == ["cm"]
        assert proxy.admin("/readyz") == "ok"
        # A broken spec keeps the last good one in force and says why.
        proxy.write_spec("shard: Bad_Name\nepoch: 2\n")
        wait_until(lambda: "specError" in proxy.status(), timeout=20, interval=0.05, what="the spec error to show")
        assert proxy.status()["appliedEpoch"] == 1 and "DNS subdomain" in proxy.status()["specError"]
        assert [i["metadata"]["name"] for i in via.ok("GET", "/api/v1/configmaps")["items"]] == ["cm"]
    finally:
        proxy.kill()
