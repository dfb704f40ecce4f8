"""--data-dir: objects and the resourceVersion counter survive a restart and a kill -9."""
import json
import os
import signal

from conftest import Server


def test_restart_keeps_objects_and_resource_versions(workdir):
    data = os.path.join(workdir, "data")
    s = Server(workdir, data_dir=data).start()
    try:
        s.kubectl("create", "namespace", "keep")
        s.kubectl("create", "configmap", "c", "-n", "keep", "--from-literal=a=1")
        before = json.loads(s.kubectl("get", "configmap", "c", "-n", "keep", "-o", "json").stdout)
        list_rv = int(json.loads(s.kubectl("get", "--raw", "/api/v1/configmaps").stdout)["metadata"]["resourceVersion"])
    finally:
        s.kill(signal.SIGKILL)  # no clean shutdown: every acknowledged write must already be on disk

    s2 = Server(workdir, data_dir=data)
    s2.port = s.port
    s2.start()
    try:
        after = json.loads(s2.kubectl("get", "configmap", "c", "-n", "keep", "-o", "json").stdout)
        assert after == before
        s2.kubectl("create", "configmap", "d", "-n", "keep")
        d = json.loads(s2.kubectl("get", "configmap", "d", "-n", "keep", "-o", "json").stdout)
        assert int(d["metadata"]["resourceVersion"]) > list_rv
    finally:
        s2.kill()
