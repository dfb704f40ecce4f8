/// The ShardingConfig CustomResourceDefinition, as shipped in
/// `manifests/crds/ctrlmesh.kruise.io_shardingconfigs.yaml` (a test keeps the two identical), so
/// the demo can install it without reading files.
public enum ShardingConfigCRD {
    public static let yaml = #"""
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    metadata:
      name: shardingconfigs.ctrlmesh.kruise.io
    spec:
      group: ctrlmesh.kruise.io
      names:
        kind: ShardingConfig
        listKind: ShardingConfigList
        plural: shardingconfigs
        singular: shardingconfig
        shortNames: [shc]
      scope: Namespaced
      versions:
      - name: v1alpha1
        served: true
        storage: true
        subresources:
          status: {}
        additionalPrinterColumns:
        - {name: Mode, type: string, jsonPath: .spec.sharding.mode}
        - {name: Epoch, type: integer, jsonPath: .status.epoch}
        - {name: Ready, type: string, jsonPath: ".status.conditions[?(@.type=='Ready')].status"}
        - {name: Rollout, type: string, jsonPath: .status.rollout.phase}
        - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
        schema:
          openAPIV3Schema:
            description: ShardingConfig shards an operator's pods behind the ctrlmesh proxy.
            type: object
            required: [spec]
            properties:
              apiVersion: {type: string}
              kind: {type: string}
              metadata: {type: object}
              spec:
                type: object
                required: [selector, resources]
                properties:
                  selector:
                    description: The operator pods of this mesh (a metav1.LabelSelector).
                    type: object
                    properties:
                      matchLabels:
                        type: object
                        additionalProperties: {type: string}
                      matchExpressions:
                        type: array
                        items:
                          type: object
                          required: [key, operator]
                          properties:
                            key: {type: string}
                            operator: {type: string, enum: [In, NotIn, Exists, DoesNotExist]}
                            values: {type: array, items: {type: string}}
                  resources:
                    description: The sharded resources, as RBAC rules ("*" matches any).
                    type: array
                    minItems: 1
                    items:
                      type: object
                      required: [apiGroups, resources]
                      properties:
                        apiGroups: {type: array, minItems: 1, items: {type: string}}
                        resources: {type: array, minItems: 1, items: {type: string}}
                  sharding:
                    type: object
                    properties:
                      mode:
                        description: >-
                          ObjectHash (FNV-1a 64 of the controller owner's uid, else the object's own),
                          NamespaceHash (of the namespace name), or NamespaceSets (named sets, one per shard).
                        type: string
                        enum: [ObjectHash, NamespaceHash, NamespaceSets]
                        default: ObjectHash
                      shards:
                        description: The most shards in hash modes; pods beyond them are spares. Unset, the pods decide.
                        type: integer
                        minimum: 1
                      replicasPerShard:
                        description: Pods per shard, grouped by StatefulSet ordinal (or the ctrlmesh.kruise.io/shard-index label).
                        type: integer
                        minimum: 1
                        default: 1
                      slots:
                        description: Hash-space slots handed over as units; a power of two, many more than shards.
                        type: integer
                        minimum: 1
                        maximum: 65536
                        default: 256
                      namespaceSets:
                        type: array
                        items:
                          type: object
                          required: [name]
                          properties:
                            name: {type: string}
                            namespaces: {type: array, items: {type: string}}
                            namespaceSelector:
                              type: object
                              x-kubernetes-preserve-unknown-fields: true
                            namespaceRegex: {type: string}
                  leaderElection:
                    description: The operator's leader-election lock, renamed per shard by the proxy.
                    type: object
                    required: [name]
                    properties:
                      namespace: {type: string}
                      name: {type: string}
                      resource: {type: string, enum: [leases, configmaps, endpoints], default: leases}
                  canary:
                    description: >-
                      Pods of a new operator version that form one extra shard (hash modes), given a share of the
                      hash space that grows step by step; each change of it is a safe handover.
                    type: object
                    required: [selector, steps]
                    properties:
                      selector:
                        description: The canary pods among those spec.selector selects.
                        type: object
                        x-kubernetes-preserve-unknown-fields: true
                      steps:
                        description: >-
                          Each step keeps the share before it, adds the hash slots of its namespaces (NamespaceHash mode),
                          then the lowest free slots until the canary holds percent of them.
                        type: array
                        minItems: 1
                        items:
                          type: object
                          properties:
                            namespaces: {type: array, items: {type: string}}
                            percent: {type: integer, minimum: 0, maximum: 100}
                      pause:
                        description: How long each step holds once converged before the next, a duration such as 30s.
                        type: string
                      analysis:
                        description: Roll back when the canary's own API calls fail too often.
                        type: object
                        required: [maxErrorPercent]
                        properties:
                          maxErrorPercent: {type: number, minimum: 0, maximum: 100}
                          minRequests: {type: integer, minimum: 1, default: 20}
                          window: {type: string, default: 1m}
              status:
                type: object
                properties:
                  epoch: {type: integer, format: int64}
                  units: {type: integer}
                  shards:
                    type: array
                    items:
                      type: object
                      properties:
                        name: {type: string}
                        leader: {type: string}
                        epoch: {type: integer, format: int64}
                        ackedEpoch: {type: integer, format: int64}
                        slots: {type: string}
                        targetSlots: {type: string}
                        ranges: {type: array, items: {type: string}}
                        namespaces: {type: array, items: {type: string}}
                        members:
                          type: array
                          items:
                            type: object
                            properties:
                              pod: {type: string}
                              state: {type: string, enum: [Ready, Pending, Disconnected, Unreported]}
                              ackedEpoch: {type: integer, format: int64}
                  unassigned:
                    type: array
                    items:
                      type: object
                      properties:
                        pod: {type: string}
                        reason: {type: string}
                  rollout:
                    type: object
                    nullable: true
                    properties:
                      phase: {type: string, enum: [Progressing, Paused, Completed, RolledBack, Aborted]}
                      step: {type: integer}
                      steps: {type: integer}
                      message: {type: string}
                      canaryShard: {type: string}
                      targetSlots: {type: integer}
                      ownedSlots: {type: integer}
                      sharePercent: {type: number}
                      handledRequest: {type: string}
                      analysis:
                        type: object
                        properties:
                          requests: {type: integer}
                          errors: {type: integer}
                          percent: {type: number}
                  grants:
                    description: The shard holding each unit and the epoch it was granted at, written before a grant is sent; the API server's fence judges stamped writes by it.
                    type: object
                    properties:
                      term: {type: integer, format: int64}
                      holders:
                        type: array
                        items:
                          type: object
                          required: [shard, epoch, units]
                          properties:
                            shard: {type: string}
                            epoch: {type: integer, format: int64}
                            units: {type: string}
                  handovers:
                    type: object
                    properties:
                      total: {type: integer}
                      p50Milliseconds: {type: integer}
                      p99Milliseconds: {type: integer}
                  conditions:
                    type: array
                    items:
                      type: object
                      required: [type, status]
                      properties:
                        type: {type: string}
                        status: {type: string, enum: ["True", "False", "Unknown"]}
                        reason: {type: string}
                        message: {type: string}
    """#
}
