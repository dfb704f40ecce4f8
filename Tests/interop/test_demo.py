"""`ctrlmesh demo`, the README's first command: the whole mesh comes up, scales out and back in,
its table and audit verdict are printed, and its hints for exploring with kubectl are true."""
import json
import os
import re
import signal
import subprocess
import urllib.request

from conftest import BINARY, kubectl
from operator_process import Process


def test_demo_scales_the_shards_audits_and_its_hints_work(workdir):
    kc = os.path.join(workdir, "demo.kubeconfig")
    demo = Process(["demo", "--keep-running", "--kubeconfig-out", kc], ready_word="starting 3 shards")
    try:
        demo.wait_for("Press Ctrl-C", timeout=240)
        text = "\n".join(demo.output())
        assert "ctrlmesh demo: created 300 CloneSets in 30 namespaces" in text
        assert "scaling out to 4 shards" in text and "scaling back in to 3 shards" in text
        assert "rolling out a canary (starting cloneset-operator-v2-0, version v2)" in text
        assert "rollout: Completed, all 2 steps done; the canary owns 128 slots" in text
        rows = re.findall(r"^(cloneset-operator-(?:\d|canary))\s+(\S+)\s+(\S+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)$", text, re.M)
        assert len(rows) == 4, text
        assert sum(int(r[6]) for r in rows) == 300
        for shard, members, leader, slots, epoch, acked, _ in rows:
            assert members.count("(Ready)") == (1 if shard.endswith("canary") else 2), members
            assert leader in members and epoch == acked and slots != "-"
        canary = next(r for r in rows if r[0] == "cloneset-operator-canary")
        assert canary[3] == "0-127" and int(canary[6]) > 0, canary
        moved = int(re.search(r"to 300 CloneSet keys, (\d+) of them written by more than one shard", text).group(1))
        assert moved > 0, "the scale-out and scale-in moved CloneSets between shards"
        assert "PASS no key was written by two shards at overlapping epochs" in text
        assert "PASS every CloneSet was last reconciled by a member of the shard that owns it" in text
        assert "ctrlmesh demo: PASSED" in text

        cache = os.path.join(workdir, "cache")
        status = subprocess.run([BINARY, "status", "--kubeconfig", kc], capture_output=True, text=True, check=True).stdout
        assert "ShardingConfig ctrlmesh-system/cloneset-operator" in status and "Ready=True" in status
        rollout = subprocess.run([BINARY, "rollout", "status", "cloneset-operator", "-n", "ctrlmesh-system", "--kubeconfig", kc],
                                 capture_output=True, text=True, check=True).stdout
        assert "rollout Completed, step 2 of 2" in rollout and "owns 128 slots (50%)" in rollout, rollout
        configs = kubectl(kc, cache, "get", "shardingconfigs", "-A").stdout
        assert "cloneset-operator" in configs and "ObjectHash" in configs
        pod = json.loads(kubectl(kc, cache, "get", "pod", "cloneset-operator-0", "-n", "ctrlmesh-system", "-o", "json").stdout)
        assert [c["name"] for c in pod["spec"]["initContainers"]] == ["ctrlmesh-proxy"]
        leases = kubectl(kc, cache, "get", "leases", "-n", "ctrlmesh-system").stdout
        assert "ctrlmesh-member-cloneset-operator-0" in leases and "cloneset-operator---cloneset-operator-0" in leases
        server = re.search(r"curl -s (\S+)/debug/ctrlmesh/writes", text).group(1)
        with urllib.request.urlopen(f"{server}/debug/ctrlmesh/writes", timeout=30) as r:
            assert len(json.loads(r.read())["items"]) > 300
    finally:
        demo.proc.send_signal(signal.SIGINT)
        assert demo.proc.wait(timeout=60) == 0


def test_demo_rejects_bad_flags_in_one_line():
    bad = subprocess.run([BINARY, "demo", "--shards", "0"], capture_output=True, text=True)
    assert bad.returncode != 0 and "--shards must be from 1 to 16" in bad.stderr
