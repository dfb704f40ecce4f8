@testable import MeshManager
import KubeClient
import KubeModel
import KubeYAML
import MeshCore
import Testing

@Suite struct ShardingConfigTests {
    @Test func embeddedCRDMatchesTheManifest() throws {
        #expect(ShardingConfigCRD.yaml + "\n" == (try Fixtures.text("manifests/crds/ctrlmesh.kruise.io_shardingconfigs.yaml")))
        let crd = try YAMLDocument.parse(ShardingConfigCRD.yaml)
        #expect(crd["spec"]?["names"]?["kind"] == "ShardingConfig")
    }

    @Test func theShippedSampleParses() throws {
        let object = try #require(try Fixtures.documents("manifests/samples/cloneset-operator-sharded.yaml").first { $0["kind"] == "ShardingConfig" })
        let config = try MeshConfig(object: object)
        #expect(config.mode == .objectHash && config.maxShards == 3 && config.replicasPerShard == 2 && config.slots == 256)
        #expect(config.resources.allSatisfy { $0.key == .object })
        #expect(config.leaderElection == ShardSpec.LeaderElectionLock(namespace: "ctrlmesh-system", name: "cloneset-operator"))
        #expect(config.placement(podName: "cloneset-operator-5", labels: [:]) == .shard("cloneset-operator-2"))
        #expect(config.placement(podName: "cloneset-operator-6", labels: [:]) == .spare)

        let canary = try MeshConfig(object: try #require(try Fixtures.documents("manifests/samples/cloneset-operator-canary.yaml").first))
        #expect(canary.canary?.steps.map(\.percent) == [0, 10, 50, 100] && canary.canary?.pause == .seconds(30))
        #expect(canary.placement(podName: "cloneset-operator-v2-0", labels: ["app": "cloneset-operator", "version": "v2"])
                == .shard("cloneset-operator-canary"))

        let sets = try MeshConfig(object: try #require(try Fixtures.documents("manifests/samples/shardingconfig-namespaces.yaml").first))
        guard case .namespaceSets(let list) = sets.mode else { Issue.record("not namespace sets"); return }
        #expect(list.map(\.name) == ["team-a", "team-b", "gold"])
        let spec = sets.spec(shard: "team-b", units: [1], epoch: 2)
        #expect(spec.ownsNamespace("team-b-prod", labels: nil) && !spec.ownsNamespace("team-a", labels: nil))
    }

    /// KusionStack's manifests are accepted with the same meaning (docs/manager.md).
    @Test func kusionStackManifestsMapOntoTheModel() throws {
        let auto = try Fixtures.documents("Tests/fixtures/kusionstack/shardingconfig-auto.yaml")[0]
        let root = try MeshConfig(object: auto)
        #expect(root.mode == .namespaceHash && root.maxShards == 2 && root.replicasPerShard == 2)
        // Its canary: the first replica owns ns-canary's slot from the start; the stable shards
        // number the other ordinals from zero.
        #expect(root.canary == MeshConfig.Canary(pods: .firstOrdinals(1), steps: [.init(namespaces: ["ns-canary"])]))
        #expect(root.placement(podName: "operator-demo-0", labels: [:]) == .shard("sharding-root-canary"))
        #expect(root.placement(podName: "operator-demo-1", labels: [:]) == .shard("sharding-root-0"))
        #expect(root.placement(podName: "operator-demo-4", labels: [:]) == .shard("sharding-root-1"))
        #expect(root.placement(podName: "operator-demo-5", labels: [:]) == .spare)
        #expect(root.canaryUnits(step: 0) == [SlotAssignment.slot(of: FNV1a64.hash("ns-canary"), slots: root.slots)])
        var buckets = auto
        buckets.setValue(["replicas": 1, "inShardHash": ["0", "31"]], at: ["spec", "root", "canary"])
        // Bucket b of 32 is the b-th 32nd of the hash space: 8 of 256 slots each.
        #expect(try MeshConfig(object: buckets).canaryUnits(step: 0) == Set(0..<8).union(248..<256))
        buckets.setValue(["replicas": 1, "inShardHash": ["32"]], at: ["spec", "root", "canary"])
        #expect(throws: FieldErrors.self) { try MeshConfig(object: buckets) }
        #expect(root.resources == [ShardSpec.ResourceRule(apiGroups: ["*"], resources: ["pods", "services"], key: .namespace)])
        #expect(root.leaderElection?.name == "operator-leader" && root.leaderElection?.namespace == "operator-demo")

        var demo = try Fixtures.documents("Tests/fixtures/kusionstack/shardingconfig-demo.yaml")[0]
        // The upstream sample leaves an empty `matchLabels:` (null): still one shard.
        let config = try MeshConfig(object: demo)
        guard case .namespaceSets(let sets) = config.mode else { Issue.record("not namespace sets"); return }
        #expect(sets.map(\.namespaces) == [["namespace-a", "namespace-b"]])
        #expect(config.placement(podName: "anything", labels: [:]) == .shard("sharding-demo"))
        demo.setValue(nil, at: ["spec", "limits"])
        #expect(throws: FieldErrors.self) { try MeshConfig(object: demo) }
    }

    @Test(arguments: [
        ("sharding: {mode: Sideways}", "spec.sharding.mode: Unsupported value: \"Sideways\""),
        ("sharding: {shards: 0}", "spec.sharding.shards: Invalid value: 0: must be at least 1"),
        ("sharding: {slots: 100}", "spec.sharding.slots: Invalid value: 100: must be a power of two"),
        ("sharding: {replicasPerShard: 0}", "spec.sharding.replicasPerShard: Invalid value: 0"),
        ("sharding: {mode: NamespaceSets, namespaceSets: [{name: a, namespaces: [x]}, {name: b, namespaces: [x]}]}",
         "spec.sharding.namespaceSets[1].namespaces: Duplicate value: \"x\" is also in set \"a\""),
        ("sharding: {mode: NamespaceSets, namespaceSets: [{name: a, namespaces: [x]}, {name: a, namespaces: [y]}]}",
         "spec.sharding.namespaceSets[1].name: Duplicate value: \"a\""),
        ("sharding: {mode: NamespaceSets, namespaceSets: [{name: a, namespaceRegex: \"([\"}]}", "namespaceRegex: Invalid value"),
        ("sharding: {mode: NamespaceSets}", "spec.sharding.namespaceSets: Required value"),
        ("leaderElection: {namespace: x}", "spec.leaderElection.name: Required value"),
        ("canary: {selector: {matchLabels: {v: '2'}}, steps: [{namespaces: [a]}]}", "spec.canary.steps: Forbidden: namespace steps need NamespaceHash"),
        ("canary: {selector: {matchLabels: {v: '2'}}, steps: []}", "spec.canary.steps: Required value"),
        ("canary: {selector: {matchLabels: {v: '2'}}, steps: [{percent: 101}]}", "spec.canary.steps[0].percent: Invalid value: 101"),
        ("canary: {selector: {matchLabels: {v: '2'}}, steps: [{}]}", "spec.canary.steps[0]: Required value"),
        ("canary: {steps: [{percent: 5}]}", "spec.canary.selector: Required value"),
        ("canary: {selector: {matchLabels: {v: '2'}}, steps: [{percent: 5}], pause: soon}", "spec.canary.pause: Invalid value"),
        ("canary: {selector: {matchLabels: {v: '2'}}, steps: [{percent: 5}], analysis: {minRequests: 3}}",
         "spec.canary.analysis.maxErrorPercent: Required value"),
        ("sharding: {mode: NamespaceSets, namespaceSets: [{name: a, namespaces: [x]}]}\n  canary: {selector: {matchLabels: {v: '2'}}, steps: [{percent: 5}]}",
         "spec.canary: Forbidden: a canary takes hash slots"),
    ])
    func invalidConfigsAreRejectedWithTheirFieldPath(extra: String, message: String) throws {
        let text = """
            apiVersion: ctrlmesh.kruise.io/v1alpha1
            kind: ShardingConfig
            metadata: {name: op, namespace: ns}
            spec:
              selector: {matchLabels: {app: op}}
              resources: [{apiGroups: [""], resources: [pods]}]
              \(extra)
            """
        let object = try YAMLDocument.parse(text)
        do {
            _ = try MeshConfig(object: object)
            Issue.record("accepted: \(extra)")
        } catch {
            #expect(error.description.contains(message), "\(error.description)")
        }
    }

    @Test func missingSelectorAndResourcesAreBothReported() throws {
        let object = try YAMLDocument.parse("{apiVersion: ctrlmesh.kruise.io/v1alpha1, kind: ShardingConfig, metadata: {name: op}, spec: {}}")
        do {
            _ = try MeshConfig(object: object)
            Issue.record("accepted")
        } catch {
            #expect(error.problems.contains("spec.selector: Required value: select the operator's pods"))
            #expect(error.problems.contains("spec.resources: Required value: name at least one sharded resource"))
        }
    }

    @Test func theValidatingWebhookAnswersWithAStatus() throws {
        let bad = try YAMLDocument.parse("{apiVersion: ctrlmesh.kruise.io/v1alpha1, kind: ShardingConfig, metadata: {name: op}, spec: {sharding: {shards: 0}}}")
        let response = AdmissionWebhook.validateShardingConfig(["object": bad])
        #expect(response["allowed"] == false)
        #expect(response["status"]?["code"] == 422 && response["status"]?["reason"] == "Invalid")
        #expect(response["status"]?["message"]?.stringValue?.hasPrefix("ShardingConfig.ctrlmesh.kruise.io \"op\" is invalid: ") == true)
        let good = try Fixtures.documents("manifests/samples/cloneset-operator-sharded.yaml").first { $0["kind"] == "ShardingConfig" }
        #expect(AdmissionWebhook.validateShardingConfig(["object": try #require(good)])["allowed"] == true)
    }
}

/// ShardingConfigs and policies are read strictly: a misspelt or mistyped field is an error
/// the manager reports, never a setting silently not applied.
@Suite struct StrictConfigTests {
    func config(_ spec: JSON, group: String = MeshConfig.group) -> JSON {
        ["apiVersion": .string("\(group)/v1alpha1"), "kind": "ShardingConfig", "metadata": ["name": "c", "namespace": "ns"], "spec": spec]
    }

    let valid: JSON = ["selector": ["matchLabels": ["app": "op"]], "resources": [["apiGroups": [""], "resources": ["configmaps"]]],
                       "sharding": ["mode": "NamespaceHash", "shards": 2]]

    func problems(_ object: JSON) -> [String] {
        do {
            _ = try MeshConfig(object: object)
            return []
        } catch {
            return error.problems
        }
    }

    @Test func theValidConfigParses() {
        #expect(problems(config(valid)).isEmpty)
    }

    @Test(arguments: [
        (["sharding", "mod"], JSON.string("ObjectHash"), "spec.sharding.mod: Unknown field"),
        (["resource"], JSON.array([]), "spec.resource: Unknown field"),
        (["sharding", "shards"], JSON.string("2"), "spec.sharding.shards: Invalid value: must be an integer"),
        (["sharding", "mode"], JSON.int(1), "spec.sharding.mode: Invalid value: must be a string"),
        (["selector"], JSON.string("app=op"), "spec.selector: Invalid value"),
        (["selector", "matchLabel"], JSON.object(JSONObject()), "spec.selector: Invalid value"),
        (["leaderElection", "nam"], JSON.string("l"), "spec.leaderElection.nam: Unknown field"),
        (["canary", "step"], JSON.array([]), "spec.canary.step: Unknown field"),
    ])
    func typosAreReported(_ path: [String], _ value: JSON, _ expected: String) {
        var spec = valid
        spec.setValue(value, at: path)
        let found = problems(config(spec))
        #expect(found.contains { $0.hasPrefix(expected) }, "\(found)")
    }

    @Test func kusionStackFieldsThatWouldChangeTheMeaningAreRefusedUntilImplemented() throws {
        var auto = try Fixtures.documents("Tests/fixtures/kusionstack/shardingconfig-auto.yaml")[0]
        #expect(problems(auto).isEmpty)
        auto.setValue(["port": 9443, "certDir": "/certs"], at: ["spec", "webhook"])
        var resourceSelector = auto["spec"]?["root"]?["resourceSelector"]?.arrayValue ?? []
        resourceSelector[0].setValue(["matchLabels": ["a": "b"]], at: ["selector"])
        auto.setValue(.array(resourceSelector), at: ["spec", "root", "resourceSelector"])
        let found = problems(auto)
        #expect(found.contains { $0.hasPrefix("spec.webhook: Unsupported value") })
        #expect(found.contains { $0.hasPrefix("spec.root.resourceSelector[0].selector: Unsupported value") })
    }

    @Test func policiesAreReadStrictly() throws {
        func policyProblems(_ spec: JSON) -> [String] {
            let object: JSON = ["apiVersion": "ctrlmesh.kruise.io/v1alpha1", "kind": "FaultInjection",
                                "metadata": ["name": "f", "namespace": "ns"], "spec": spec]
            do {
                _ = try PolicyDocument(object: object)
                return []
            } catch {
                return error.problems
            }
        }
        let fault: JSON = ["name": "f", "match": ["resources": [["verbs": ["delete"], "apiGroups": [""], "resources": ["pods"]]]],
                           "abort": ["httpStatus": 500]]
        #expect(policyProblems(["selector": ["matchLabels": ["a": "b"]], "httpFault": [fault]]).isEmpty)
        var typo = fault
        typo.setValue(500, at: ["abort", "httpStatsu"])
        #expect(policyProblems(["selector": ["matchLabels": ["a": "b"]], "httpFault": [typo]]).contains { $0.contains("httpStatsu: Unknown field") })
        #expect(policyProblems(["selector": ["matchLabels": ["a": "b"]], "httpFault": [fault], "disabled": "true"])
            .contains { $0.hasPrefix("spec.disabled: Invalid value") })
        var headers = fault
        headers.setValue(["httpMatch": [["method": "GET", "headers": [["name": "x", "value": "y"]]]]], at: ["match"])
        #expect(policyProblems(["selector": ["matchLabels": ["a": "b"]], "httpFault": [headers]]).contains { $0.contains("headers: Unsupported value") })
    }
}
