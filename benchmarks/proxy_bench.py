#!/usr/bin/env python3
"""Side-by-side proxy benchmark: the same upstream (`ctrlmesh apiserver`) and load generators
(wrk for HTTP/1.1 latency percentiles, h2load for h2c), reached directly, through
`ctrlmesh proxy`, through `kubectl proxy` (Go's reverse proxy of the API server) and through
nginx as a plain reverse proxy. Prints ratios measured in one run; `make bench-proxy` runs it.

Measures:
  1. passthrough GET of a small object: req/s and p50/p99 at 1 and 64 connections, through the
     proxy's event-loop data path and through its async executor alone (`--async-data-path`),
     and the proxy CPU time each request costs (from /proc; valgrind 3.19, the one Debian
     ships, cannot run this binary and the VM exposes no instruction counters to perf);
  2. a LIST of 20,000 objects filtered to 1/4 versus the unfiltered direct list, and the
     proxy's RSS growth;
  3. filtered watch events per proxy CPU-second (a scripted upstream streams the events
     as fast as the proxy takes them, so the proxy is the bottleneck).
"""
import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import cpu_seconds, free_port, proc_status, start, wait_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def request(port, path, accept="application/json"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", path, headers={"accept": accept})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, body


def to_ms(text):
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url, connections, duration):
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = to_ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = to_ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        sys.exit(f"wrk against {url} got {errors.group(1)} error responses")
    return rps, p50, p99


def h2load(url, n=30000, clients=4, streams=10):
    out = subprocess.run(["h2load", "-n", str(n), "-c", str(clients), "-m", str(streams), url],
                         capture_output=True, text=True, check=True).stdout
    if f"{n} succeeded" not in out:
        sys.exit(f"h2load against {url} failed:\n{out}")
    return float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))


NGINX_CONF = """daemon off;
worker_processes auto;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}; proxy_temp_path {dir}; fastcgi_temp_path {dir}; uwsgi_temp_path {dir}; scgi_temp_path {dir};
  upstream api {{ server 127.0.0.1:{upstream}; keepalive 128; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://api;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }}
  }}
}}
"""


class WatchUpstream:
    """Streams a prebuilt watch body as fast as the reader takes it."""

    def __init__(self, body):
        payload = body

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                view = memoryview(payload)
                for i in range(0, len(view), 1 << 20):
                    self.wfile.write(view[i:i + (1 << 20)])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.port = self.httpd.server_port


def kubeconfig_for(path, port):
    with open(path, "w") as f:
        f.write(f"apiVersion: v1\nkind: Config\nclusters:\n- name: u\n  cluster: {{server: 'http://127.0.0.1:{port}'}}\n"
                "contexts:\n- name: u\n  context: {cluster: u, user: u}\ncurrent-context: u\nusers:\n- name: u\n  user: {}\n")
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ctrlmesh", default=os.path.join(ROOT, ".build", "release", "ctrlmesh"))
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--objects", type=int, default=20000)
    parser.add_argument("--watch-events", type=int, default=400000)
    parser.add_argument("--json", help="write the passthrough and list figures here, for benchmarks/plots.py")
    args = parser.parse_args()
    for tool in ("wrk", "h2load", "nginx", "kubectl"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is required (make bench-proxy installs it)")
    work = tempfile.mkdtemp(prefix="ctrlmesh-proxy-bench-")
    procs = []
    try:
        api_port = free_port()
        kc = os.path.join(work, "kubeconfig")
        procs.append(start([args.ctrlmesh, "apiserver", "--listen", f"127.0.0.1:{api_port}", "--kubeconfig-out", kc], ready="ready"))

        # 20,000 configmaps in 4 namespaces; the proxy's shard owns one of them.
        def post(path, body, attempts=3):
            for attempt in range(attempts):
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", api_port, timeout=60)
                    conn.request("POST", path, json.dumps(body), {"content-type": "application/json"})
                    r = conn.getresponse()
                    r.read()
                    conn.close()
                except (ConnectionError, http.client.HTTPException):
                    if attempt + 1 == attempts:
                        raise
                    continue
                # A retried create may find its first attempt landed.
                assert r.status == 201 or (attempt > 0 and r.status == 409), r.status
                return
        for i in range(4):
            post("/api/v1/namespaces", {"metadata": {"name": f"bench-{i}"}})
        blob = "x" * 400
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: post(f"/api/v1/namespaces/bench-{i % 4}/configmaps",
                                         {"metadata": {"name": f"cm-{i}", "labels": {"app": "bench"}}, "data": {"v": blob}}),
                          range(args.objects)))

        spec = os.path.join(work, "spec.yaml")
        with open(spec, "w") as f:
            f.write("shard: bench\nepoch: 1\nresources:\n- {apiGroups: [\"\"], resources: [configmaps], key: namespace}\n"
                    "owned:\n  namespaces: [bench-0]\n")
        mesh_port, async_port, kubectl_port, nginx_port = free_port(), free_port(), free_port(), free_port()
        mesh = start([args.ctrlmesh, "proxy", "--listen", f"127.0.0.1:{mesh_port}", "--kubeconfig", kc, "--spec-file", spec], ready="ready")
        procs.append(mesh)
        async_mesh = start([args.ctrlmesh, "proxy", "--listen", f"127.0.0.1:{async_port}", "--kubeconfig", kc, "--spec-file", spec,
                            "--async-data-path"], ready="ready")
        procs.append(async_mesh)
        kubectl = start(["kubectl", "proxy", "--kubeconfig", kc, "--port", str(kubectl_port), "--address", "127.0.0.1"])
        procs.append(kubectl)
        conf = os.path.join(work, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(dir=work, upstream=api_port, port=nginx_port))
        procs.append(start(["nginx", "-c", conf, "-p", work, "-e", os.path.join(work, "error.log")]))
        for port in (mesh_port, async_port, kubectl_port, nginx_port):
            wait_port(port)
        time.sleep(1)
        idle_rss = proc_status(mesh.pid, "VmRSS")
        print(f"ctrlmesh proxy RSS idle (started, spec applied, no request yet): {idle_rss:.1f} MiB (target <= 25)\n")

        targets = [("direct", api_port), ("ctrlmesh proxy", mesh_port), ("ctrlmesh, async path only", async_port),
                   ("kubectl proxy", kubectl_port), ("nginx", nginx_port)]
        small = "/api/v1/namespaces/default"
        print(f"# passthrough GET {small} (wrk -t1, {args.duration}s per run, HTTP/1.1 keep-alive)\n")
        results = {}
        cpu_per_request = {}
        pids = {"ctrlmesh proxy": mesh.pid, "ctrlmesh, async path only": async_mesh.pid, "kubectl proxy": kubectl.pid}
        for name, port in targets:
            for conns in (1, 64):
                cpu0 = cpu_seconds(pids[name]) if name in pids else 0
                results[(name, conns)] = wrk(f"http://127.0.0.1:{port}{small}", conns, args.duration)
                if name in pids:
                    requests = results[(name, conns)][0] * args.duration
                    cpu_per_request[(name, conns)] = (cpu_seconds(pids[name]) - cpu0) / requests * 1e6
        print("| target | conns | req/s | p50 ms | p99 ms | added p50 ms | added p99 ms |")
        print("|---|---|---|---|---|---|---|")
        for conns in (1, 64):
            base = results[("direct", conns)]
            for name, _ in targets:
                rps, p50, p99 = results[(name, conns)]
                print(f"| {name} | {conns} | {rps:,.0f} | {p50:.3f} | {p99:.3f} | {p50 - base[1]:.3f} | {p99 - base[2]:.3f} |")
        print()
        for conns in (1, 64):
            mesh_r, async_r, kube_r, nginx_r, direct_r = (results[(n, conns)] for n in (
                "ctrlmesh proxy", "ctrlmesh, async path only", "kubectl proxy", "nginx", "direct"))
            added_mesh, added_kube = mesh_r[1] - direct_r[1], kube_r[1] - direct_r[1]
            print(f"- {conns} conns: throughput ctrlmesh/kubectl-proxy = {mesh_r[0] / kube_r[0]:.2f} (target >= 2), "
                  f"ctrlmesh/nginx = {mesh_r[0] / nginx_r[0]:.2f} (target >= 0.8), "
                  f"added p50 ctrlmesh/kubectl-proxy = {added_mesh / added_kube if added_kube > 0 else float('nan'):.2f} (target <= 0.5), "
                  f"event-loop path / async path = {mesh_r[0] / async_r[0]:.2f}")
        h2_direct = h2load(f"http://127.0.0.1:{api_port}{small}")
        h2_mesh = h2load(f"http://127.0.0.1:{mesh_port}{small}")
        h2_async = h2load(f"http://127.0.0.1:{async_port}{small}")
        print(f"- h2c (h2load -c4 -m10): direct {h2_direct:,.0f} req/s, ctrlmesh proxy {h2_mesh:,.0f} req/s "
              f"(ratio {h2_mesh / h2_direct:.2f}, target >= 0.6), async path only {h2_async:,.0f} req/s; "
              "kubectl proxy and nginx do not serve h2c\n")
        print("# proxy CPU per passthrough GET (µs of user+system time / requests served in the wrk runs above)\n")
        print("| proxy | 1 conn | 64 conns |")
        print("|---|---|---|")
        for name in pids:
            print(f"| {name} | {cpu_per_request[(name, 1)]:.1f} | {cpu_per_request[(name, 64)]:.1f} |")
        print()

        print(f"# LIST of {args.objects:,} configmaps, the proxy's shard owning 1/4 (median of 5)\n")
        rss_before = proc_status(mesh.pid, "VmRSS")
        timings = {}
        sizes = {}
        for name, port in targets:
            runs = []
            for _ in range(5):
                t = time.perf_counter()
                status, body = request(port, "/api/v1/configmaps")
                runs.append(time.perf_counter() - t)
                assert status == 200, status
            timings[name] = statistics.median(runs) * 1000
            sizes[name] = (len(json.loads(body)["items"]), len(body))
        rss_peak = proc_status(mesh.pid, "VmHWM")
        print("| target | items | MiB | ms |")
        print("|---|---|---|---|")
        for name, _ in targets:
            print(f"| {name} | {sizes[name][0]:,} | {sizes[name][1] / 2**20:.1f} | {timings[name]:.1f} |")
        print(f"\n- filtered list / unfiltered direct list = {timings['ctrlmesh proxy'] / timings['direct']:.2f} (target <= 1.3)")
        print(f"- ctrlmesh proxy RSS before the lists {rss_before:.1f} MiB, peak {rss_peak:.1f} MiB "
              f"(growth {rss_peak - rss_before:.1f} MiB; the list is {sizes['direct'][1] / 2**20:.1f} MiB)\n")

        # Watch: a scripted upstream streams events; 1/4 are owned.
        events = []
        for i in range(args.watch_events):
            events.append(json.dumps({"type": "MODIFIED", "object": {
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": f"cm-{i}", "namespace": f"bench-{i % 4}", "uid": f"uid-{i}", "resourceVersion": str(1000 + i),
                             "labels": {"app": "bench"}},
                "data": {"v": "x" * 200}}}, separators=(",", ":")))
        body = ("\n".join(events) + "\n").encode()
        upstream = WatchUpstream(body)
        wkc = kubeconfig_for(os.path.join(work, "watch-kubeconfig"), upstream.port)
        watch_port = free_port()
        watcher = start([args.ctrlmesh, "proxy", "--listen", f"127.0.0.1:{watch_port}", "--kubeconfig", wkc, "--spec-file", spec], ready="ready")
        procs.append(watcher)
        time.sleep(0.5)
        print(f"# filtered watch: {args.watch_events:,} events ({len(body) / 2**20:.0f} MiB), 1/4 owned\n")
        print("| bookmarks | events delivered | wall s | proxy CPU s | events/s per proxy CPU-second |")
        print("|---|---|---|---|---|")
        for bookmarks in ("false", "true"):
            cpu0 = cpu_seconds(watcher.pid)
            t = time.perf_counter()
            status, out = request(watch_port, f"/api/v1/configmaps?watch=true&allowWatchBookmarks={bookmarks}")
            wall = time.perf_counter() - t
            cpu = cpu_seconds(watcher.pid) - cpu0
            delivered = sum(1 for line in out.splitlines() if b'"MODIFIED"' in line)
            assert status == 200 and delivered == args.watch_events // 4, (status, delivered)
            print(f"| {bookmarks} | {delivered:,} | {wall:.2f} | {cpu:.2f} | {args.watch_events / cpu:,.0f} |")
        print("\n(target: >= 400,000 filtered events per proxy CPU-second)")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"passthrough": {f"{name}|{conns}": {"rps": r[0], "p50_ms": r[1], "p99_ms": r[2]}
                                           for (name, conns), r in results.items()},
                           "cpu_us_per_request": {f"{name}|{conns}": v for (name, conns), v in cpu_per_request.items()},
                           "h2c": {"direct": h2_direct, "ctrlmesh proxy": h2_mesh},
                           "list_ms": timings, "idle_rss_mib": idle_rss}, f, indent=1)
    finally:
        conf = os.path.join(work, "nginx.conf")
        if os.path.exists(conf):
            # Killing the master alone leaves its workers running.
            subprocess.run(["nginx", "-c", conf, "-p", work, "-s", "stop"], capture_output=True)
        for p in procs:
            p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
