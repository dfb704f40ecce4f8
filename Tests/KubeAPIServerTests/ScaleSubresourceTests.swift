@testable import KubeAPIServer
import KubeModel
import Testing

@Suite struct ScaleSubresourceTests {
    let deployment: JSON = ["metadata": ["name": "web", "namespace": "a", "uid": "u", "resourceVersion": "5"],
                            "spec": ["replicas": 3, "selector": ["matchLabels": ["app": "web"]]], "status": ["replicas": 2]]

    @Test func viewsAWorkloadAsAScale() {
        let scale = ScaleSubresource.workload.view(of: deployment)
        #expect(scale["kind"] == "Scale" && scale["apiVersion"] == "autoscaling/v1")
        #expect(scale["spec"]?["replicas"] == 3 && scale["status"]?["replicas"] == 2 && scale["status"]?["selector"] == "app=web")
        #expect(scale.resourceVersion == "5" && scale.uid == "u")
    }

    @Test func customPathsFromTheCRD() throws {
        let crdScale: JSON = ["specReplicasPath": ".spec.size", "statusReplicasPath": ".status.count", "labelSelectorPath": ".status.sel"]
        let subresource = try #require(ScaleSubresource(crd: crdScale))
        let object: JSON = ["metadata": ["name": "x"], "spec": ["size": 1], "status": ["count": 1, "sel": "k=v"]]
        #expect(subresource.view(of: object)["status"]?["selector"] == "k=v")
        let updated = try subresource.applying(["spec": ["replicas": 9]], to: object)
        #expect(updated["spec"]?["size"] == 9 && updated["status"] == object["status"])
        #expect(throws: StatusError.self) { try subresource.applying(["spec": ["replicas": -1]], to: object) }
        #expect(throws: StatusError.self) { try subresource.applying(["spec": [:]], to: object) }
        #expect(ScaleSubresource(crd: ["specReplicasPath": ".spec.size"]) == nil)
    }
}
