"""Fixtures that run a real `ctrlmesh apiserver` process for interop tests with real clients."""
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("CTRLMESH_BIN", os.path.join(ROOT, ".build", "debug", "ctrlmesh"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def kubectl(self, *args, check=True, input=None, timeout=60):
        cmd = ["kubectl", "--kubeconfig", self.kubeconfig, "--cache-dir", self.cache_dir, *args]
        result = subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result


def require_tool(name):
    if shutil.which(name) is None:
        pytest.fail(f"required tool {name} is not installed (make test installs it)")


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="ctrlmesh-interop-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def server(workdir):
    require_tool("kubectl")
    s = Server(workdir, extra=["--bookmark-interval", "1", "--watch-history", "50"]).start()
    yield s
    s.kill()


@pytest.fixture
def tls_server(workdir):
    require_tool("kubectl")
    s = Server(workdir, tls=True).start()
    yield s
    s.kill()
