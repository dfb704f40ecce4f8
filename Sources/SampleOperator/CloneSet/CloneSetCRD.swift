/// The CloneSet CustomResourceDefinition the sample operator serves, as shipped in
/// `manifests/samples/cloneset-crd.yaml` (a test keeps the two identical), so the demo can
/// install it without reading files.
public enum CloneSetCRD {
    public static let yaml = #"""
    # The CloneSet resource the sample operator serves (`ctrlmesh sample-operator`): the essential
    # fields of OpenKruise's apps.kruise.io/v1alpha1 CloneSet. The full upstream CRD also works;
    # the tests run against it.
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    metadata:
      name: clonesets.apps.kruise.io
    spec:
      group: apps.kruise.io
      names:
        kind: CloneSet
        listKind: CloneSetList
        plural: clonesets
        singular: cloneset
        shortNames: [clone]
      scope: Namespaced
      versions:
      - name: v1alpha1
        served: true
        storage: true
        subresources:
          status: {}
          scale:
            specReplicasPath: .spec.replicas
            statusReplicasPath: .status.replicas
            labelSelectorPath: .status.labelSelector
        additionalPrinterColumns:
        - {name: DESIRED, type: integer, jsonPath: .spec.replicas, description: The desired number of pods.}
        - {name: UPDATED, type: integer, jsonPath: .status.updatedReplicas, description: Pods at the update revision.}
        - {name: UPDATED_READY, type: integer, jsonPath: .status.updatedReadyReplicas, description: Ready pods at the update revision.}
        - {name: READY, type: integer, jsonPath: .status.readyReplicas, description: Ready pods.}
        - {name: TOTAL, type: integer, jsonPath: .status.replicas, description: Pods owned.}
        - {name: AGE, type: date, jsonPath: .metadata.creationTimestamp}
        schema:
          openAPIV3Schema:
            type: object
            properties:
              apiVersion: {type: string}
              kind: {type: string}
              metadata: {type: object}
              spec:
                type: object
                required: [selector, template]
                properties:
                  replicas:
                    type: integer
                    format: int32
                    minimum: 0
                    description: Desired pods (default 1).
                  selector:
                    type: object
                    description: Label selector for the pods; must match the template's labels.
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
                            operator: {type: string}
                            values: {type: array, items: {type: string}}
                  template:
                    type: object
                    description: The pod template.
                    x-kubernetes-preserve-unknown-fields: true
                  scaleStrategy:
                    type: object
                    properties:
                      podsToDelete:
                        type: array
                        description: Pods to delete; replacements are created to keep replicas.
                        items: {type: string}
                  updateStrategy:
                    type: object
                    properties:
                      type:
                        type: string
                        enum: [ReCreate, InPlaceIfPossible, InPlaceOnly]
                        description: How pods move to a new template (default ReCreate).
                      partition:
                        x-kubernetes-int-or-string: true
                        description: Pods kept at old revisions, a count or a percentage (rounded up).
                      maxUnavailable:
                        x-kubernetes-int-or-string: true
                        description: Most pods unavailable during an update, a count or a percentage (default 20%).
              status:
                type: object
                properties:
                  observedGeneration: {type: integer, format: int64}
                  replicas: {type: integer, format: int32}
                  readyReplicas: {type: integer, format: int32}
                  availableReplicas: {type: integer, format: int32}
                  updatedReplicas: {type: integer, format: int32}
                  updatedReadyReplicas: {type: integer, format: int32}
                  updateRevision: {type: string}
                  currentRevision: {type: string}
                  labelSelector: {type: string}
    """#
}
