"""Protobuf lists and watches, encoded by protoc-generated code from the upstream field
numbers, filtered by the proxy and decoded again by the real protobuf runtime."""
import importlib
import os
import random
import struct
import subprocess
import sys
import urllib.request
import uuid

import pytest

from conftest import Proxy, require_tool
from fake_upstream import FakeUpstream, chunked

HERE = os.path.dirname(os.path.abspath(__file__))
MAGIC = b"k8s\x00"
PROTOBUF = "application/vnd.kubernetes.protobuf"


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    require_tool("protoc")
    out = tmp_path_factory.mktemp("proto")
    subprocess.run(["protoc", f"--proto_path={HERE}/proto", f"--python_out={out}", "k8s_fixture.proto"], check=True)
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module("k8s_fixture_pb2")
    finally:
        sys.path.remove(str(out))


def fnv1a64(text):
    h = 0xcbf29ce484222325
    for b in text.encode():
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def objects(pb, n=300):
    rnd = random.Random(13)
    parents = []
    items = []
    for i in range(n):
        cm = pb.ConfigMap()
        cm.metadata.name = f"cm-{i}"
        cm.metadata.namespace = f"ns-{i % 20}"
        cm.metadata.uid = str(uuid.UUID(int=rnd.getrandbits(128)))
        cm.metadata.resourceVersion = str(100 + i)
        cm.metadata.labels["app"] = rnd.choice(["a", "b"])
        cm.metadata.annotations["note"] = "x" * rnd.randint(0, 3000)
        cm.data["payload"] = "{}[]\"\\" * rnd.randint(0, 50)
        if parents and rnd.random() < 0.5:
            parent = rnd.choice(parents)
            ref = cm.metadata.ownerReferences.add()
            ref.kind, ref.name, ref.uid, ref.apiVersion, ref.controller = "ConfigMap", parent.metadata.name, parent.metadata.uid, "v1", True
        else:
            parents.append(cm)
        items.append(cm)
    return items


def envelope(pb, kind, message):
    u = pb.Unknown()
    u.typeMeta.apiVersion, u.typeMeta.kind = "v1", kind
    u.raw = message.SerializeToString()
    u.contentType = PROTOBUF
    return MAGIC + u.SerializeToString()


def object_key(cm):
    refs = [r for r in cm.metadata.ownerReferences if r.controller]
    return fnv1a64(refs[0].uid if refs else cm.metadata.uid)


SPECS = {
    "namespace": ("resources:\n- {apiGroups: [\"\"], resources: [configmaps], key: namespace}\n"
                  "owned:\n  namespaces: [" + ", ".join(f"ns-{i}" for i in range(0, 20, 3)) + "]\n",
                  lambda cm: int(cm.metadata.namespace.split("-")[1]) % 3 == 0),
    "object": ("resources:\n- {apiGroups: [\"\"], resources: [configmaps], key: object}\n"
               "owned:\n  objectHashRanges: [{start: '0x0', end: '0x8000000000000000'}]\n",
               lambda cm: object_key(cm) < 2 ** 63),
}


def get(url, accept=PROTOBUF):
    request = urllib.request.Request(url, headers={"accept": accept, "accept-encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=30) as r:
        return r.status, r.headers, r.read()


@pytest.mark.parametrize("mode", sorted(SPECS))
def test_protobuf_list_and_watch_are_filtered(pb, workdir, mode):
    spec_body, owned = SPECS[mode]
    items = objects(pb)
    upstream = FakeUpstream(workdir)
    cml = pb.ConfigMapList()
    cml.metadata.resourceVersion = "999"
    cml.metadata.selfLink = ""
    cml.items.extend(items)
    list_body = envelope(pb, "ConfigMapList", cml)

    def watch(handler):
        frames = []
        for kind, cm in [("ADDED", c) for c in items[:100]] + [("BOOKMARK", None)]:
            event = pb.WatchEvent()
            event.type = kind
            if cm is None:
                bookmark = pb.ConfigMap()
                bookmark.metadata.resourceVersion = "2000"
                event.object.raw = envelope(pb, "ConfigMap", bookmark)
            else:
                event.object.raw = envelope(pb, "ConfigMap", cm)
            data = event.SerializeToString()
            frames.append(struct.pack(">I", len(data)) + data)
        # Frames cut at arbitrary points, as TCP may deliver them.
        stream = b"".join(frames)
        cuts = sorted(random.Random(7).sample(range(1, len(stream)), 40))
        chunked(handler, [stream[a:b] for a, b in zip([0] + cuts, cuts + [len(stream)])], PROTOBUF + ";stream=watch")

    upstream.routes["/api/v1/configmaps"] = lambda h: (watch(h) if "watch=true" in h.path else
                                                      chunked(h, [list_body[i:i + 1000] for i in range(0, len(list_body), 1000)], PROTOBUF))
    proxy = Proxy(workdir, upstream.kubeconfig, spec=f"shard: pb\nepoch: 1\n{spec_body}", name=f"pb-{mode}").start()
    try:
        proxy.wait_applied(1)
        status, headers, body = get(proxy.url + "/api/v1/configmaps")
        assert status == 200 and headers["content-type"] == PROTOBUF
        assert "gzip" not in upstream.requests[-1][2].get("Accept-Encoding", ""), "filtered requests must ask for identity"
        assert body.startswith(MAGIC) and len(body) == len(list_body)
        u = pb.Unknown.FromString(body[4:])
        got = pb.ConfigMapList.FromString(u.raw)
        expected = [cm for cm in items if owned(cm)]
        assert 0 < len(expected) < len(items)
        assert [cm.SerializeToString() for cm in got.items] == [cm.SerializeToString() for cm in expected]
        assert got.metadata.resourceVersion == "999"
        # Withheld items left no bytes of themselves behind.
        for cm in items:
            if not owned(cm):
                assert cm.SerializeToString() not in body

        status, headers, stream = get(proxy.url + "/api/v1/configmaps?watch=true&allowWatchBookmarks=true")
        assert headers["content-type"].startswith(PROTOBUF)
        events, offset = [], 0
        while offset < len(stream):
            (n,) = struct.unpack(">I", stream[offset:offset + 4])
            event = pb.WatchEvent.FromString(stream[offset + 4:offset + 4 + n])
            offset += 4 + n
            obj = pb.ConfigMap.FromString(pb.Unknown.FromString(event.object.raw[4:]).raw)
            events.append((event.type, obj))
        added = [o.metadata.name for t, o in events if t == "ADDED"]
        assert added == [cm.metadata.name for cm in items[:100] if owned(cm)]
        bookmarks = [o.metadata.resourceVersion for t, o in events if t == "BOOKMARK"]
        assert bookmarks and bookmarks[-1] == "2000"
        assert proxy.metric("ctrlmesh_proxy_items_dropped_total") == len(items) - len(expected)
    finally:
        proxy.kill()
        upstream.stop()
