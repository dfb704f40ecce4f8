"""Wire behaviour checked with plain HTTP: bad input answers a Status, watches carry
bookmarks and end at timeoutSeconds, the status subresource keeps its rules."""
import json
import time
import urllib.error
import urllib.request

from operator_process import CLONESET_CRD


def call(server, method, path, body=None, content_type="application/json"):
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    request = urllib.request.Request(server.url + path, data=data, method=method, headers={"content-type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def assert_status(result, code, reason):
    status, body = result
    assert status == code and body["kind"] == "Status" and body["status"] == "Failure", result
    assert body["reason"] == reason and body["code"] == code, result


def test_bad_input_gets_kubernetes_status(server):
    cms = "/api/v1/namespaces/default/configmaps"
    assert_status(call(server, "POST", cms, b"{not json"), 400, "BadRequest")
    assert_status(call(server, "POST", cms, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}), 400, "BadRequest")
    assert_status(call(server, "POST", cms, {"metadata": {"name": "x", "namespace": "other"}}), 400, "BadRequest")
    assert_status(call(server, "POST", cms, b"{" + b'"a":"' + b"x" * (4 * 1024 * 1024) + b'"}'), 413, "RequestEntityTooLarge")
    assert_status(call(server, "GET", "/api/v1/namespaces/default/widgets"), 404, "NotFound")
    assert_status(call(server, "GET", "/apis/nope.example.com/v1/things"), 404, "NotFound")
    status, body = call(server, "POST", cms, {"metadata": {"name": "Bad_Name"}})
    assert_status((status, body), 422, "Invalid")
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    call(server, "POST", cms, {"metadata": {"name": "ok"}})
    assert_status(call(server, "PATCH", cms + "/ok", {"data": {}}, content_type="application/apply-patch+yaml"), 415, "UnsupportedMediaType")
    assert_status(call(server, "PATCH", cms + "/ok", {"data": {}}, content_type="text/plain"), 415, "UnsupportedMediaType")
    assert_status(call(server, "POST", cms, {"metadata": {"name": "ok"}}), 409, "AlreadyExists")
    # the server still answers normally after all of that
    status, body = call(server, "GET", cms + "/ok")
    assert status == 200 and body["metadata"]["name"] == "ok"


def test_watch_bookmarks_and_timeout(server):
    # the test server sends bookmarks every second
    started = time.time()
    url = server.url + "/api/v1/namespaces/default/configmaps?watch=true&allowWatchBookmarks=true&timeoutSeconds=3"
    with urllib.request.urlopen(url, timeout=20) as response:
        assert response.status == 200 and response.headers["content-type"] == "application/json"
        events = [json.loads(line) for line in response]
    assert 2.5 < time.time() - started < 10
    bookmarks = [e for e in events if e["type"] == "BOOKMARK"]
    assert bookmarks and bookmarks[0]["object"]["kind"] == "ConfigMap"
    assert int(bookmarks[-1]["object"]["metadata"]["resourceVersion"]) > 0


def test_status_subresource_rules(server):
    k = server.kubectl
    k("apply", "-f", CLONESET_CRD)
    path = "/apis/apps.kruise.io/v1alpha1/namespaces/default/clonesets"
    status, cs = call(server, "POST", path, {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet", "metadata": {"name": "c"},
                                             "spec": {"replicas": 1}, "status": {"replicas": 9}})
    # a create starts with empty status when status is a subresource
    assert status == 201 and cs["metadata"]["generation"] == 1 and "status" not in cs
    # status through the main endpoint is ignored; through /status only status changes
    status, cs = call(server, "PATCH", path + "/c", {"status": {"replicas": 5}}, content_type="application/merge-patch+json")
    assert status == 200 and "status" not in cs
    status, cs = call(server, "PATCH", path + "/c/status", {"spec": {"replicas": 7}, "status": {"replicas": 5}},
                      content_type="application/merge-patch+json")
    assert status == 200 and cs["status"]["replicas"] == 5 and cs["spec"]["replicas"] == 1
    assert cs["metadata"]["generation"] == 1  # status writes do not bump generation
