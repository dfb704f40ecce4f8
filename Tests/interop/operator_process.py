"""Runs `ctrlmesh sample-operator` and `ctrlmesh node-sim` processes and reads what they print."""
import os
import subprocess
import threading
import time

from conftest import BINARY, free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "Tests", "fixtures", "kruise")
CLONESET_CRD = os.path.join(FIXTURES, "crds", "apps.kruise.io_clonesets.yaml")
CLONESET_SAMPLE = os.path.join(FIXTURES, "apps_v1alpha1_cloneset.yaml")
RECONCILED_BY = "sample.ctrlmesh.io/reconciled-by"


class Process:
    """A ctrlmesh subcommand whose output lines are collected with the time they arrived."""

    def __init__(self, args, ready_word="started", binary=BINARY):
        self.args = args
        self.lines = []
        self.lock = threading.Lock()
        self.died_at = None
        command = [binary, *args] if binary else args
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for(ready_word, timeout=20)

    def _read(self):
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append((time.time(), line.rstrip("\n")))

    def output(self):
        with self.lock:
            return [line for _, line in self.lines]

    def wait_for(self, word, timeout=20, after=0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                for stamp, line in self.lines:
                    if stamp >= after and word in line:
                        return stamp
            if self.proc.poll() is not None:
                time.sleep(0.1)
                raise AssertionError(f"{self.args[0]} exited ({self.proc.returncode}) before printing {word!r}:\n"
                                     + "\n".join(self.output()))
            time.sleep(0.02)
        raise AssertionError(f"{self.args[0]} did not print {word!r} in {timeout}s:\n" + "\n".join(self.output()))

    def leadership(self):
        """(start, end) intervals of leading, from the lines the operator prints; a process that
        was killed while leading stopped leading when it died."""
        intervals, start = [], None
        with self.lock:
            lines = list(self.lines)
        for _, line in lines:
            if line.startswith("leading "):
                start = float(line.rsplit(" at ", 1)[1])
            elif line.startswith("stopped leading ") and start is not None:
                intervals.append((start, float(line.rsplit(" at ", 1)[1])))
                start = None
        if start is not None:
            intervals.append((start, self.died_at))
        return intervals

    def stop(self, sig=15, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=timeout)
            self.died_at = time.time()
        return self.proc.returncode


def operator(kubeconfig, identity, leader_elect=False, lease="default/ctrlmesh-sample-operator", timings="3,2,0.5",
             simulate_nodes=False, workers=4, extra=()):
    args = ["sample-operator", "--kubeconfig", kubeconfig, "--identity", identity, "--workers", str(workers),
            "--health-listen", f"127.0.0.1:{free_port()}", *extra]
    if leader_elect:
        args += ["--leader-elect", "--leader-election-lease", lease, "--lease-timings", timings]
    if simulate_nodes:
        args.append("--simulate-nodes")
    return Process(args)


def node_sim(kubeconfig):
    return Process(["node-sim", "--kubeconfig", kubeconfig])


def overlapping(*interval_lists):
    """Pairs of leadership intervals (from different candidates) that overlap in time."""
    now = time.time()
    flat = [(who, start, end if end is not None else now) for who, intervals in enumerate(interval_lists)
            for start, end in intervals]
    return [(a, b) for i, a in enumerate(flat) for b in flat[i + 1:] if a[0] != b[0] and a[1] < b[2] and b[1] < a[2]]
