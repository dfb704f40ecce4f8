"""`ctrlmesh demo`, the README's first command: it comes up, its table and its hints are true."""
import json
import os
import re
import signal
import time

from conftest import kubectl, wait_until
from operator_process import Process, RECONCILED_BY


def test_demo_runs_two_operator_shards_and_its_hints_work(workdir):
    kc = os.path.join(workdir, "demo.kubeconfig")
    demo = Process(["demo", "--kubeconfig-out", kc], ready_word="seeded")
    try:
        demo.wait_for("Press Ctrl-C", timeout=90)
        text = "\n".join(demo.output())
        rows = re.findall(r"^(team-[abc])\s+(app-\d)\s+(\d+)/(\d+)\s+(\S+)$", text, re.M)
        assert len(rows) == 6, text
        for ns, _, ready, want, by in rows:
            assert ready == want and by == ("shard-a-0" if ns == "team-a" else "shard-b-0")
        cache = os.path.join(workdir, "cache")
        shard_a = re.search(r"shard-a proxy: \S+ owns team-a \(kubeconfig (\S+)\)", text).group(1)
        spec_a = re.search(r"/\[team-a, team-c\]/' (\S+)", text).group(1)
        spec_b = re.search(r"/\[team-b\]/' (\S+)", text).group(1)

        def cloneset(ns, name):
            return json.loads(kubectl(kc, cache, "get", "cloneset", name, "-n", ns, "-o", "json").stdout)

        refused = kubectl(shard_a, cache, "delete", "cloneset", "app-1", "-n", "team-b", check=False)
        assert refused.returncode != 0 and "Forbidden" in refused.stderr
        kubectl(kc, cache, "scale", "cloneset", "app-1", "-n", "team-c", "--replicas", "5")
        wait_until(lambda: cloneset("team-c", "app-1").get("status", {}).get("readyReplicas") == 5, what="team-c/app-1 at 5")
        assert cloneset("team-c", "app-1")["metadata"]["annotations"][RECONCILED_BY] == "shard-b-0"

        # The hints' live move of team-c: revoke from shard-b, then grant to shard-a.
        for path, old, new in ((spec_b, "[team-b, team-c]", "[team-b]"), (spec_a, "[team-a]", "[team-a, team-c]")):
            with open(path) as f:
                spec = f.read().replace("epoch: 1", "epoch: 2").replace(old, new)
            with open(path, "w") as f:
                f.write(spec)
            time.sleep(1)
        kubectl(kc, cache, "scale", "cloneset", "app-1", "-n", "team-c", "--replicas", "2")
        wait_until(lambda: cloneset("team-c", "app-1").get("status", {}).get("readyReplicas") == 2, what="team-c/app-1 at 2")
        wait_until(lambda: cloneset("team-c", "app-1")["metadata"]["annotations"][RECONCILED_BY] == "shard-a-0", what="shard-a took team-c")
    finally:
        demo.proc.send_signal(signal.SIGINT)
        assert demo.proc.wait(timeout=20) == 0
