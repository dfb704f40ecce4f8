"""Raw HTTP to an API server or a proxy: fast seeding, exact bytes, and streaming watches."""
import http.client
import json
import threading
import urllib.parse
from concurrent.futures import ThreadPoolExecutor


class Client:
    """One keep-alive HTTP/1.1 connection per thread to a base URL (http only)."""

    def __init__(self, base_url):
        parsed = urllib.parse.urlparse(base_url)
        self.host, self.port = parsed.hostname, parsed.port
        self.local = threading.local()

    def conn(self):
        c = getattr(self.local, "conn", None)
        if c is None:
            c = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        return c

    def request(self, method, path, body=None, content_type="application/json", headers=None):
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        h = {"content-type": content_type, "accept": "application/json"}
        h.update(headers or {})
        for attempt in range(2):
            try:
                c = self.conn()
                c.request(method, path, body=data, headers=h)
                r = c.getresponse()
                raw = r.read()
                return r.status, (json.loads(raw) if raw and r.getheader("content-type", "").startswith("application/json") else raw)
            except (http.client.HTTPException, ConnectionError):
                self.local.conn = None
                if attempt:
                    raise

    def ok(self, method, path, body=None, **kw):
        status, out = self.request(method, path, body, **kw)
        assert 200 <= status < 300, (method, path, status, out)
        return out

    def list_all(self, path, limit=None):
        """Every item of a (paginated) list, and the first page's resourceVersion."""
        items, token, rv = [], None, None
        while True:
            q = []
            if limit:
                q.append(f"limit={limit}")
            if token:
                q.append("continue=" + urllib.parse.quote(token))
            page = self.ok("GET", path + ("?" + "&".join(q) if q else ""))
            rv = rv or page["metadata"].get("resourceVersion")
            items += page["items"]
            token = page["metadata"].get("continue")
            if not token:
                return items, rv


def parallel(fn, args, workers=8):
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, args))


class WatchStream:
    """A watch read on a thread: events as parsed dicts, in order, until the stream ends."""

    def __init__(self, base_url, path):
        parsed = urllib.parse.urlparse(base_url)
        self.conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=120)
        self.conn.request("GET", path, headers={"accept": "application/json"})
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.events = []
        self.ended = threading.Event()
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            while True:
                line = self.response.readline()
                if not line:
                    break
                if line.strip():
                    with self.lock:
                        self.events.append(json.loads(line))
        except Exception:
            pass
        finally:
            self.ended.set()

    def snapshot(self):
        with self.lock:
            return list(self.events)

    def last_rv(self):
        for e in reversed(self.snapshot()):
            rv = e.get("object", {}).get("metadata", {}).get("resourceVersion")
            if rv:
                return int(rv)
        return 0

    def close(self):
        try:
            self.conn.sock.shutdown(2)
        except Exception:
            pass
        self.conn.close()
