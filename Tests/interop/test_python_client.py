"""The Python `kubernetes` client against a running `ctrlmesh apiserver`."""
import subprocess
import sys
import textwrap
import threading
import time

import pytest

try:
    from kubernetes import client, config, watch
    from kubernetes.client.rest import ApiException
except ImportError:  # make test installs it; never skip silently
    pytest.fail("the Python kubernetes package is missing (make test installs it)")


@pytest.fixture
def api(server):
    return config.new_client_from_config(config_file=server.client_kubeconfig)


def test_crud_and_selectors(api):
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="py")))
    for i in range(5):
        core.create_namespaced_config_map("py", client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name=f"cm-{i}", labels={"parity": "even" if i % 2 == 0 else "odd", "i": str(i)}),
            data={"i": str(i)}))
    names = [c.metadata.name for c in core.list_namespaced_config_map("py", label_selector="parity=even").items]
    assert names == ["cm-0", "cm-2", "cm-4"]
    names = [c.metadata.name for c in core.list_namespaced_config_map("py", label_selector="i in (1,3),parity").items]
    assert names == ["cm-1", "cm-3"]
    names = [c.metadata.name for c in core.list_namespaced_config_map("py", field_selector="metadata.name!=cm-0").items]
    assert names == ["cm-1", "cm-2", "cm-3", "cm-4"]

    # pagination with limit/continue
    page = core.list_namespaced_config_map("py", limit=2)
    seen = [c.metadata.name for c in page.items]
    while page.metadata._continue:
        page = core.list_namespaced_config_map("py", limit=2, _continue=page.metadata._continue)
        seen += [c.metadata.name for c in page.items]
    assert seen == [f"cm-{i}" for i in range(5)]

    cm = core.read_namespaced_config_map("cm-1", "py")
    cm.data["x"] = "y"
    updated = core.replace_namespaced_config_map("cm-1", "py", cm)
    assert int(updated.metadata.resource_version) > int(cm.metadata.resource_version)
    # a stale resourceVersion is a 409 Conflict
    cm.data["x"] = "z"
    with pytest.raises(ApiException) as e:
        core.replace_namespaced_config_map("cm-1", "py", cm)
    assert e.value.status == 409 and "the object has been modified" in e.value.body

    core.patch_namespaced_config_map("cm-1", "py", {"data": {"patched": "yes"}})
    assert core.read_namespaced_config_map("cm-1", "py").data["patched"] == "yes"

    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map("py", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cm-1")))
    assert e.value.status == 409 and "AlreadyExists" in e.value.body

    core.delete_namespaced_config_map("cm-1", "py")
    with pytest.raises(ApiException) as e:
        core.read_namespaced_config_map("cm-1", "py")
    assert e.value.status == 404


def test_finalizers_hold_deletion(api):
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map("default", client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="held", finalizers=["example.com/hold"])))
    core.delete_namespaced_config_map("held", "default")
    held = core.read_namespaced_config_map("held", "default")
    assert held.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map("held", "default", {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as e:
        core.read_namespaced_config_map("held", "default")
    assert e.value.status == 404


def test_watch_sees_events_and_relists_after_expiry(api):
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="watched")))
    start_rv = core.list_namespaced_config_map("watched").metadata.resource_version

    def writer():
        time.sleep(0.5)
        core.create_namespaced_config_map("watched", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="a")))
        core.patch_namespaced_config_map("a", "watched", {"data": {"k": "v"}})
        core.delete_namespaced_config_map("a", "watched")

    writing = threading.Thread(target=writer)
    writing.start()
    seen = []
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_config_map, "watched", resource_version=start_rv, timeout_seconds=10):
        seen.append((event["type"], event["object"].metadata.name))
        if event["type"] == "DELETED":
            w.stop()
    writing.join()
    assert seen == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]

    # Push the history window (50 events for this server) past start_rv: resuming from it is
    # 410 Expired; the client relists and watches again, as informers do.
    for i in range(60):
        core.create_namespaced_config_map("watched", client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"fill-{i}")))
    w = watch.Watch()
    with pytest.raises(ApiException) as e:
        for _ in w.stream(core.list_namespaced_config_map, "watched", resource_version=start_rv, timeout_seconds=5):
            pass
    assert e.value.status == 410
    relisted = core.list_namespaced_config_map("watched")
    assert len(relisted.items) == 60
    names = []
    w = watch.Watch()
    # The writer is joined before the test ends, so the server outlives its request.
    late = threading.Thread(target=lambda: (time.sleep(0.5), core.create_namespaced_config_map(
        "watched", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="after")))))
    late.start()
    for event in w.stream(core.list_namespaced_config_map, "watched", resource_version=relisted.metadata.resource_version, timeout_seconds=10):
        names.append(event["object"].metadata.name)
        w.stop()
    late.join()
    assert names == ["after"]


ELECTOR = textwrap.dedent("""
    import sys, time
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException
    from datetime import datetime, timezone, timedelta
    api = config.new_client_from_config(config_file=sys.argv[1])
    coord = client.CoordinationV1Api(api)
    me, hold = sys.argv[2], float(sys.argv[3])
    def now():
        return datetime.now(timezone.utc)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            lease = coord.read_namespaced_lease("elect", "default")
        except ApiException as e:
            if e.status != 404: raise
            body = client.V1Lease(metadata=client.V1ObjectMeta(name="elect"), spec=client.V1LeaseSpec(
                holder_identity=me, lease_duration_seconds=2, acquire_time=now(), renew_time=now(), lease_transitions=0))
            try:
                coord.create_namespaced_lease("default", body)
                print("LEADER", me, flush=True); time.sleep(hold); sys.exit(0)
            except ApiException as e2:
                if e2.status != 409: raise
                continue
        spec = lease.spec
        expired = spec.renew_time + timedelta(seconds=spec.lease_duration_seconds) < now()
        if spec.holder_identity == me or expired:
            spec.holder_identity = me; spec.renew_time = now(); spec.acquire_time = now()
            spec.lease_transitions = (spec.lease_transitions or 0) + 1
            try:
                coord.replace_namespaced_lease("elect", "default", lease)
                print("LEADER", me, flush=True); time.sleep(hold); sys.exit(0)
            except ApiException as e:
                if e.status != 409: raise
        time.sleep(0.2)
    print("TIMEOUT", me, flush=True)
""")


def test_leader_election_over_a_lease_between_two_processes(server, tmp_path):
    script = tmp_path / "elector.py"
    script.write_text(ELECTOR)
    first = subprocess.Popen([sys.executable, str(script), server.client_kubeconfig, "one", "3"], stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    second = subprocess.Popen([sys.executable, str(script), server.client_kubeconfig, "two", "0"], stdout=subprocess.PIPE, text=True)
    out1, _ = first.communicate(timeout=40)
    out2, _ = second.communicate(timeout=40)
    assert out1.strip() == "LEADER one"
    # the second process becomes leader only after the first stopped renewing and the lease expired
    assert out2.strip() == "LEADER two"
    api = config.new_client_from_config(config_file=server.client_kubeconfig)
    lease = client.CoordinationV1Api(api).read_namespaced_lease("elect", "default")
    assert lease.spec.holder_identity == "two" and lease.spec.lease_transitions == 1
