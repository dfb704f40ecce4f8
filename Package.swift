// swift-tools-version:6.1
import PackageDescription

// Module tree: each module and the modules of this package it imports (nothing imports a
// module above it). `make module-tree` checks these lines against `swift package describe`.
//   KubeModel:
//   KubeYAML: KubeModel
//   MeshCore: KubeModel
//   MeshHTTP:
//   KubeHTTP: KubeModel MeshHTTP
//   KubeClient: KubeModel KubeYAML
//   MeshControl: KubeModel MeshCore
//   OperatorRuntime: KubeModel KubeClient MeshHTTP
//   SampleOperator: KubeModel KubeClient OperatorRuntime
//   KubeAPIServer: KubeModel KubeHTTP MeshHTTP
//   MeshProxy: KubeModel KubeYAML MeshCore MeshHTTP KubeHTTP KubeClient MeshControl
//   MeshManager: KubeModel MeshCore MeshControl MeshHTTP KubeClient OperatorRuntime
//   CtrlMeshCLI: every module above
let package = Package(
    name: "ControllerMesh",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "ctrlmesh", targets: ["CtrlMeshCLI"]),
        .executable(name: "ctrlmesh-bench", targets: ["CtrlMeshBench"]),
        .executable(name: "ctrlmesh-fuzz", targets: ["CtrlMeshFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
    ],
    targets: [
        // Raw JSON objects with typed metadata, selectors, patches, Status errors. No I/O.
        .target(name: "KubeModel"),
        // Pure mesh logic: hashing, shard specs, fencing decisions, streaming body filters. No I/O.
        .target(name: "MeshCore", dependencies: ["KubeModel"]),
        // NIO transport shared by every server role: HTTP/1.1, h2c, TLS with ALPN h2.
        .target(name: "MeshHTTP", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOHTTP2", package: "swift-nio-http2"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOTLS", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Kubernetes answers over that transport: a `Status` error as a whole response.
        .target(name: "KubeHTTP", dependencies: [
            "KubeModel", "MeshHTTP",
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        // YAML as JSON values, bounded (nesting, alias expansion): every YAML reader uses it.
        .target(name: "KubeYAML", dependencies: ["KubeModel", .product(name: "Yams", package: "Yams")]),
        // Reaching an API server: kubeconfig and in-cluster config, pooled HTTP/1.1 and HTTP/2.
        .target(name: "KubeClient", dependencies: [
            "KubeModel", "KubeYAML",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The operator runtime (what client-go's cache and controller-runtime are to Go):
        // informers and indexed caches, work queues, Lease leader election, controllers, manager.
        .target(name: "OperatorRuntime", dependencies: [
            "KubeModel", "KubeClient", "MeshHTTP",
            .product(name: "DequeModule", package: "swift-collections"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // A Kruise-style CloneSet operator built on the runtime; it knows nothing of sharding.
        .target(name: "SampleOperator", dependencies: [
            "KubeModel", "KubeClient", "OperatorRuntime",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The manager <-> proxy protocol: messages and the gRPC method that carries them.
        .target(name: "MeshControl", dependencies: [
            "KubeModel", "MeshCore",
            .product(name: "GRPCCore", package: "grpc-swift-2"),
        ]),
        // The mesh manager: ShardingConfigs, member liveness, handover, status, webhooks.
        .target(name: "MeshManager", dependencies: [
            "KubeModel", "MeshCore", "MeshControl", "MeshHTTP", "KubeClient", "OperatorRuntime",
            .product(name: "GRPCCore", package: "grpc-swift-2"),
            .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The sharding sidecar: classifies each request once, fences it, filters responses.
        .target(name: "MeshProxy", dependencies: [
            "KubeModel", "KubeYAML", "MeshCore", "MeshHTTP", "KubeHTTP", "KubeClient", "MeshControl",
            .product(name: "GRPCCore", package: "grpc-swift-2"),
            .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The embedded Kubernetes-compatible API server.
        .target(name: "KubeAPIServer", dependencies: [
            "KubeModel", "KubeHTTP", "MeshHTTP",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "DequeModule", package: "swift-collections"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "CtrlMeshCLI", dependencies: [
            "KubeModel", "KubeYAML", "KubeAPIServer", "MeshHTTP", "KubeHTTP", "MeshProxy", "KubeClient", "MeshCore", "OperatorRuntime", "SampleOperator",
            "MeshManager", "MeshControl",
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "CtrlMeshBench", dependencies: [
            "KubeModel", "KubeYAML", "KubeClient", "OperatorRuntime", "KubeAPIServer", "MeshCore", "MeshManager", "MeshProxy",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "benchmarks/Sources/CtrlMeshBench"),
        // Coverage-guided fuzzing harnesses for every parser of untrusted bytes (`make fuzz`);
        // built plainly it replays inputs through the same harnesses.
        .executableTarget(name: "CtrlMeshFuzz", dependencies: ["KubeModel", "KubeYAML", "MeshCore"], path: "Fuzz/Sources/CtrlMeshFuzz"),
        .testTarget(name: "KubeModelTests", dependencies: [
            "KubeModel", .product(name: "PropertyBased", package: "swift-property-based"),
        ]),
        .testTarget(name: "MeshCoreTests", dependencies: [
            "MeshCore", "KubeModel", .product(name: "PropertyBased", package: "swift-property-based"),
        ]),
        .testTarget(name: "KubeClientTests", dependencies: ["KubeClient", "KubeModel", "KubeYAML"]),
        .testTarget(name: "KubeYAMLTests", dependencies: [
            "KubeYAML", "KubeModel", .product(name: "PropertyBased", package: "swift-property-based"),
        ]),
        .testTarget(name: "MeshProxyTests", dependencies: [
            "MeshProxy", "MeshCore", "MeshHTTP", "KubeModel", "KubeClient",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "OperatorRuntimeTests", dependencies: [
            "OperatorRuntime", "SampleOperator", "KubeClient", "KubeModel", "KubeYAML", "KubeAPIServer",
            .product(name: "PropertyBased", package: "swift-property-based"),
        ]),
        .testTarget(name: "MeshManagerTests", dependencies: [
            "MeshManager", "MeshControl", "MeshCore", "KubeModel", "KubeYAML", "KubeClient",
            .product(name: "GRPCCore", package: "grpc-swift-2"),
        ]),
        .testTarget(name: "KubeAPIServerTests", dependencies: [
            "KubeAPIServer", "KubeModel", "MeshHTTP", "MeshCore", .product(name: "PropertyBased", package: "swift-property-based"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
