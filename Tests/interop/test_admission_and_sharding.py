"""Admission webhooks called by the API server, and KEP-5866 shardSelector on list/watch."""
import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from kubernetes import client, config
from kubernetes.client.rest import ApiException


def fnv1a64(text):
    h = 0xcbf29ce484222325
    for b in text.encode():
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


class Webhook(BaseHTTPRequestHandler):
    """Mutates: adds label injected=yes. Validates: denies names starting with deny-."""
    calls = []

    def do_POST(self):
        review = json.loads(self.rfile.read(int(self.headers["content-length"])))
        req = review["request"]
        Webhook.calls.append((self.path.split("?")[0], req["operation"], req["name"] or req["object"]["metadata"].get("generateName")))
        response = {"uid": req["uid"], "allowed": True}
        if self.path.startswith("/mutate"):
            patch = [{"op": "add", "path": "/metadata/labels", "value": {"injected": "yes"}}]
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
        elif req["name"].startswith("deny-"):
            response = {"uid": req["uid"], "allowed": False, "status": {"code": 403, "message": "names starting with deny- are refused"}}
        body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    httpd = HTTPServer(("127.0.0.1", 0), Webhook)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    Webhook.calls = []
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


def test_mutating_and_validating_webhooks(server, webhook):
    api = config.new_client_from_config(config_file=server.client_kubeconfig)
    adm = client.AdmissionregistrationV1Api(api)
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="hooked", labels={"inject": "true"})))
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="plain")))
    rule = client.V1RuleWithOperations(operations=["CREATE"], api_groups=[""], api_versions=["v1"], resources=["configmaps"])
    adm.create_mutating_webhook_configuration(client.V1MutatingWebhookConfiguration(
        metadata=client.V1ObjectMeta(name="inject"),
        webhooks=[client.V1MutatingWebhook(
            name="inject.ctrlmesh.test", admission_review_versions=["v1"], side_effects="None",
            client_config=client.AdmissionregistrationV1WebhookClientConfig(url=f"{webhook}/mutate"),
            rules=[rule], namespace_selector=client.V1LabelSelector(match_labels={"inject": "true"}))]))
    adm.create_validating_webhook_configuration(client.V1ValidatingWebhookConfiguration(
        metadata=client.V1ObjectMeta(name="guard"),
        webhooks=[client.V1ValidatingWebhook(
            name="guard.ctrlmesh.test", admission_review_versions=["v1"], side_effects="None",
            client_config=client.AdmissionregistrationV1WebhookClientConfig(url=f"{webhook}/validate"), rules=[rule])]))

    made = core.create_namespaced_config_map("hooked", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="a")))
    assert made.metadata.labels == {"injected": "yes"}
    # the namespace selector keeps the mutating webhook out of "plain"
    assert core.create_namespaced_config_map("plain", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="b"))).metadata.labels is None
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map("plain", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="deny-me")))
    assert e.value.status == 403
    assert json.loads(e.value.body)["message"] == \
        'admission webhook "guard.ctrlmesh.test" denied the request: names starting with deny- are refused'
    assert ("/mutate", "CREATE", "a") in Webhook.calls and ("/mutate", "CREATE", "b") not in Webhook.calls

    # a webhook that cannot be reached fails closed by default, and is skipped with Ignore
    adm.patch_validating_webhook_configuration("guard", {"webhooks": [{
        "name": "guard.ctrlmesh.test", "admissionReviewVersions": ["v1"], "sideEffects": "None",
        "clientConfig": {"url": "http://127.0.0.1:1/unreachable"}, "timeoutSeconds": 2, "rules": [rule.to_dict() | {"apiGroups": [""], "apiVersions": ["v1"]}]}]})
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map("plain", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c")))
    assert e.value.status == 500 and 'failed calling webhook "guard.ctrlmesh.test"' in json.loads(e.value.body)["message"]
    adm.patch_validating_webhook_configuration("guard", [{"op": "add", "path": "/webhooks/0/failurePolicy", "value": "Ignore"}])
    assert core.create_namespaced_config_map("plain", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c"))).metadata.name == "c"


def test_shard_selector_filters_and_echoes_shard_info(server):
    k = server.kubectl
    k("create", "namespace", "sharded")
    for i in range(40):
        k("create", "configmap", f"c{i}", "-n", "sharded")
    items = json.loads(k("get", "--raw", "/api/v1/namespaces/sharded/configmaps").stdout)["items"]
    uids = {i["metadata"]["name"]: i["metadata"]["uid"] for i in items}
    half = "shardRange(object.metadata.uid, '0x0', '0x8000000000000000')"
    other = "shardRange(object.metadata.uid, '0x8000000000000000', '0x10000000000000000')"
    seen = []
    for selector in (half, other):
        from urllib.parse import quote
        body = json.loads(k("get", "--raw", f"/api/v1/namespaces/sharded/configmaps?shardSelector={quote(selector)}").stdout)
        assert body["metadata"]["shardInfo"]["selector"].startswith("shardRange(object.metadata.uid, ")
        names = [i["metadata"]["name"] for i in body["items"]]
        expected_low = selector == half
        assert all((fnv1a64(uids[n]) < 2**63) == expected_low for n in names)
        seen += names
    assert sorted(seen) == sorted(uids)  # the two halves partition the collection
    r = k("get", "--raw", "/api/v1/configmaps?shardSelector=shardRange(object.metadata.name,'0x0','0x1')", check=False)
    assert r.returncode != 0 and "unsupported field path" in r.stderr
