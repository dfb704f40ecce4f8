import KubeClient
import KubeModel
import KubeYAML
import MeshCore
import Testing

@Suite struct SidecarInjectionTests {
    let injection = SidecarInjection(image: "ctrlmesh:test", managers: "manager:5450")

    @Test func theStatefulSetGetsTheProxyOnceAndItsOperatorUsesIt() throws {
        let statefulSet = try #require(try Fixtures.documents("manifests/samples/cloneset-operator-sharded.yaml").first { $0["kind"] == "StatefulSet" })
        let injected = try #require(injection.inject(object: statefulSet))
        let spec = try #require(injected.value(at: ["spec", "template", "spec"]))
        let proxy = try #require(spec["initContainers"]?.arrayValue?.first)
        #expect(proxy["name"] == "ctrlmesh-proxy" && proxy["restartPolicy"] == "Always" && proxy["image"] == "ctrlmesh:test")
        let args = proxy["args"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(args.starts(with: ["proxy", "--in-cluster"]) && args.contains("manager:5450"))
        #expect(proxy["env"]?.arrayValue?.map { $0["valueFrom"]?["fieldRef"]?["fieldPath"] }
            == ["metadata.name", "metadata.namespace", "spec.serviceAccountName"])
        // The proxy alone mounts a token for the manager's audience, bound to the pod.
        let tokenFile = "\(SidecarInjection.tokenMountPath)/token"
        #expect(args.contains("--manager-token-file") && args.contains(tokenFile))
        let token = spec["volumes"]?.arrayValue?.first { $0["name"] == .string(SidecarInjection.tokenVolumeName) }
        #expect(token?["projected"]?["sources"]?.arrayValue?.first?["serviceAccountToken"]?["audience"] == .string(TokenReviewProof.audience))
        #expect(proxy["volumeMounts"]?.arrayValue?.contains { $0["name"] == .string(SidecarInjection.tokenVolumeName) } == true)
        #expect(spec["containers"]?.arrayValue?.allSatisfy { container in
            !(container["volumeMounts"]?.arrayValue ?? []).contains { $0["name"] == .string(SidecarInjection.tokenVolumeName) }
        } == true, "the operator does not get the proxy's token")
        #expect(!(proxy["env"]?.arrayValue ?? []).contains { $0["name"] == "CTRLMESH_MANAGER_CA_PEM" }, "no CA given: plaintext")
        var withCA = injection
        withCA.managerCAPEM = "-----BEGIN CERTIFICATE-----"
        let caEnv = withCA.inject(podSpec: try #require(statefulSet.value(at: ["spec", "template", "spec"])))?["initContainers"]?.arrayValue?.first?["env"]
        #expect(caEnv?.arrayValue?.contains(["name": "CTRLMESH_MANAGER_CA_PEM", "value": "-----BEGIN CERTIFICATE-----"]) == true)
        #expect(proxy["startupProbe"]?["httpGet"]?["path"] == "/healthz" && proxy["readinessProbe"]?["httpGet"]?["path"] == "/readyz")
        let operatorContainer = try #require(spec["containers"]?.arrayValue?.first)
        #expect(operatorContainer["env"]?.arrayValue?.contains(["name": "KUBECONFIG", "value": "/var/run/ctrlmesh/kubeconfig"]) == true)
        #expect(operatorContainer["env"]?.arrayValue?.contains { $0["name"] == "POD_NAME" } == true, "the operator's own env stays")
        #expect(spec["volumes"]?.arrayValue?.contains { $0["name"] == "ctrlmesh-proxy" } == true)
        #expect(injected.value(at: ["spec", "template", "metadata", "annotations", SidecarInjection.injectedAnnotation]) == "true")
        // Injecting again changes nothing.
        #expect(injection.inject(object: injected) == nil)
        #expect(injection.inject(podSpec: spec) == nil)
    }

    @Test func otherKindsAreLeftAlone() throws {
        for object in try Fixtures.documents("manifests/samples/cloneset-operator-sharded.yaml") where object["kind"] != "StatefulSet" {
            #expect(injection.inject(object: object) == nil, "\(object["kind"]?.stringValue ?? "")")
        }
    }

    /// What `ctrlmesh inject` prints reads back as the same objects.
    @Test func renderedYAMLReadsBack() throws {
        for object in try Fixtures.documents("manifests/samples/cloneset-operator-sharded.yaml") {
            let rendered = injection.inject(object: object) ?? object
            #expect(try YAMLDocument.parse(YAMLDocument.render(rendered)) == rendered)
        }
        let awkward: JSON = ["s": "true", "n": "0123", "e": "", "nl": "a\nb", "colon": "a: b", "real": .number("1.5"), "yes": true, "null": .null]
        #expect(try YAMLDocument.parse(YAMLDocument.render(awkward)) == awkward)
    }
}
