"""Fixtures that run a real `ctrlmesh apiserver` process for interop tests with real clients."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("CTRLMESH_BIN", os.path.join(ROOT, ".build", "debug", "ctrlmesh"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kubectl(kubeconfig, cache_dir, *args, check=True, input=None, timeout=60):
    """Runs kubectl against a kubeconfig; a failure (when checked) shows its output."""
    cmd = ["kubectl", "--kubeconfig", kubeconfig, "--cache-dir", cache_dir, *args]
    result = subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def wait_until(condition, timeout=30, what="condition", interval=0.1):
    """Polls `condition` until it returns something truthy, and returns that; fails the test
    with the last value seen when `timeout` passes."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last: {last}")


class Server:
    """One `ctrlmesh apiserver` process; restartable on the same port and data directory."""

    def __init__(self, workdir, tls=False, data_dir=None, extra=()):
        self.workdir = workdir
        self.port = free_port()
        self.tls = tls
        self.data_dir = data_dir
        self.extra = list(extra)
        self.kubeconfig = os.path.join(workdir, "kubeconfig")
        self.cache_dir = os.path.join(workdir, "kubectl-cache")
        self.proc = None
        # Set when clients reach this server through a `ctrlmesh proxy`.
        self.proxy = None

    def start(self):
        if not os.path.exists(BINARY):
            pytest.fail(f"ctrlmesh binary not found at {BINARY}; run `swift build` first")
        args = [BINARY, "apiserver", "--listen", f"127.0.0.1:{self.port}", "--kubeconfig-out", self.kubeconfig]
        if self.tls:
            args.append("--tls")
        if self.data_dir:
            args += ["--data-dir", self.data_dir]
        args += self.extra
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        if "ready" not in line:
            self.proc.kill()
            pytest.fail(f"apiserver did not start: {line}{self.proc.stdout.read()}")
        return self

    def kill(self, sig=9):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)

    @property
    def url(self):
        if self.proxy:
            return self.proxy.url
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def client_kubeconfig(self):
        """The kubeconfig clients use: the proxy's when there is one."""
        return self.proxy.kubeconfig if self.proxy else self.kubeconfig

    def kubectl(self, *args, **kw):
        return kubectl(self.client_kubeconfig, self.cache_dir, *args, **kw)


# A spec that shards every resource by object with the whole hash space: every request takes
# the sharded path (filtered lists and watches, judged reads and writes) yet nothing is hidden.
OWN_EVERYTHING = """shard: all
epoch: 1
resources:
- apiGroups: ["*"]
  resources: ["*"]
  key: object
owned:
  objectHashRanges: [{start: "0x0", end: "0x10000000000000000"}]
"""


def metric_lines(admin_port):
    """A proxy's Prometheus exposition, line by line."""
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=10) as r:
        return r.read().decode().splitlines()


def metric(admin_port, name):
    """The value of an unlabelled (or the first labelled) sample of a proxy's metric."""
    for line in metric_lines(admin_port):
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"metric {name} not exposed")


class Proxy:
    """One `ctrlmesh proxy` process in front of an upstream kubeconfig."""

    def __init__(self, workdir, upstream_kubeconfig, spec=None, name="proxy", extra=()):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.admin_port = free_port()
        self.upstream_kubeconfig = upstream_kubeconfig
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        self.spec_file = os.path.join(self.dir, "spec.yaml")
        self.cache_dir = os.path.join(self.dir, "kubectl-cache")
        self.extra = list(extra)
        self.proc = None
        if spec is not None:
            self.write_spec(spec)

    def write_spec(self, text):
        tmp = self.spec_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.spec_file)

    def start(self):
        args = [BINARY, "proxy", "--listen", f"127.0.0.1:{self.port}", "--kubeconfig", self.upstream_kubeconfig,
                "--spec-file", self.spec_file, "--metrics-listen", f"127.0.0.1:{self.admin_port}",
                "--kubeconfig-out", self.kubeconfig, *self.extra]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        if "ready" not in line:
            self.proc.kill()
            pytest.fail(f"proxy did not start: {line}{self.proc.stdout.read()}")
        # Drain its log so a full pipe never blocks it.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        return self

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def admin(self, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}{path}", timeout=10) as r:
            return r.read().decode()

    def status(self):
        return json.loads(self.admin("/status"))

    def metric(self, name):
        return metric(self.admin_port, name)

    def wait_applied(self, epoch, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.status().get("appliedEpoch") == epoch:
                return
            time.sleep(0.05)
        raise AssertionError(f"proxy did not apply epoch {epoch}: {self.status()}")

    def kubectl(self, *args, **kw):
        return kubectl(self.kubeconfig, self.cache_dir, *args, **kw)

    def kill(self, sig=9):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)


def require_tool(name):
    if shutil.which(name) is None:
        pytest.fail(f"required tool {name} is not installed (make test installs it)")


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="ctrlmesh-interop-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(params=["direct", "via-proxy"])
def server(request, workdir):
    """The API server, reached directly and through a proxy whose spec owns everything:
    every client-facing behaviour must survive the proxy unchanged."""
    require_tool("kubectl")
    s = Server(workdir, extra=["--bookmark-interval", "1", "--watch-history", "50"]).start()
    if request.param == "via-proxy":
        s.proxy = Proxy(workdir, s.kubeconfig, spec=OWN_EVERYTHING).start()
        s.proxy.wait_applied(1)
    yield s
    if s.proxy:
        s.proxy.kill()
    s.kill()


@pytest.fixture
def direct_server(workdir):
    """The API server alone, for tests that put their own proxies in front of it."""
    require_tool("kubectl")
    s = Server(workdir, extra=["--bookmark-interval", "1"]).start()
    yield s
    s.kill()


@pytest.fixture
def tls_server(workdir):
    require_tool("kubectl")
    s = Server(workdir, tls=True).start()
    yield s
    s.kill()
