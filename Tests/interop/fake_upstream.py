"""A scripted upstream for the proxy: serves fixed bodies (exact bytes, chunked streams,
truncations, dropped connections) that a real API server would never send on demand."""
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeUpstream:
    def __init__(self, workdir):
        self.routes = {}  # path (without query) -> callable(handler) or (status, content_type, body or [chunks])
        self.requests = []
        self.bodies = []  # the body of each request, in the order of `requests`
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                upstream.requests.append((self.command, self.path, dict(self.headers)))
                upstream.bodies.append(self.rfile.read(int(self.headers.get("content-length") or 0)))
                route = upstream.routes.get(self.path.split("?")[0])
                if route is None:
                    body = b'{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}'
                    self.send_response(404)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if callable(route):
                    return route(self)
                status, content_type, body = route
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.kubeconfig = os.path.join(workdir, "fake-upstream-kubeconfig")
        with open(self.kubeconfig, "w") as f:
            f.write(f"""apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster: {{server: "{self.url}"}}
contexts:
- name: fake
  context: {{cluster: fake, user: fake}}
current-context: fake
users:
- name: fake
  user: {{token: fake-token}}
""")

    def stop(self):
        self.httpd.shutdown()


def chunked(handler, chunks, content_type, finish=True):
    """Streams chunks with chunked encoding; without `finish` the connection drops mid-body."""
    handler.send_response(200)
    handler.send_header("content-type", content_type)
    handler.send_header("transfer-encoding", "chunked")
    handler.end_headers()
    for chunk in chunks:
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        handler.wfile.flush()
    if finish:
        handler.wfile.write(b"0\r\n\r\n")
    else:
        handler.close_connection = True
        handler.connection.shutdown(2)
