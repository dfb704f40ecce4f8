/// The FaultInjection and CircuitBreaker CustomResourceDefinitions, as shipped in
/// `manifests/crds/` (a test keeps them identical), so the demo can install them without
/// reading files.
public enum PolicyCRDs {
    public static let faultInjection = #"""
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    metadata:
      name: faultinjections.ctrlmesh.kruise.io
    spec:
      group: ctrlmesh.kruise.io
      names:
        kind: FaultInjection
        listKind: FaultInjectionList
        plural: faultinjections
        singular: faultinjection
        shortNames: [fi]
      scope: Namespaced
      versions:
      - name: v1alpha1
        served: true
        storage: true
        subresources:
          status: {}
        additionalPrinterColumns:
        - {name: Disabled, type: boolean, jsonPath: .spec.disabled}
        - {name: Spec, type: string, jsonPath: .status.currentSpecHash}
        - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
        schema:
          openAPIV3Schema:
            description: FaultInjection delays and aborts chosen API calls of the selected operator pods at their ctrlmesh proxy.
            type: object
            required: [spec]
            properties:
              apiVersion: {type: string}
              kind: {type: string}
              metadata: {type: object}
              spec:
                type: object
                required: [selector, httpFault]
                properties:
                  selector: &selector
                    description: The operator pods (in this namespace) whose proxies inject the faults.
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
                  disabled:
                    description: Keep the rules but inject nothing.
                    type: boolean
                  seed:
                    description: Makes every percentage draw reproducible (SplitMix64 per rule and fault; see docs/policies.md).
                    type: integer
                  httpFault:
                    type: array
                    minItems: 1
                    items:
                      type: object
                      required: [match]
                      properties:
                        name: {type: string}
                        match: &match
                          description: Any of the resource matches or HTTP matches.
                          type: object
                          properties:
                            resources:
                              type: array
                              items:
                                type: object
                                properties:
                                  verbs: {type: array, items: {type: string}}
                                  apiGroups: {type: array, items: {type: string}}
                                  resources:
                                    description: Resources, optionally with a subresource (pods/status); "*" matches any.
                                    type: array
                                    items: {type: string}
                                  subresources: {type: array, items: {type: string}}
                                  namespaces: {description: Namespace globs., type: array, items: {type: string}}
                                  names: {description: Object name globs., type: array, items: {type: string}}
                                  labelSelector:
                                    description: Matched against the labels of the object in the request body (creates, updates).
                                    type: object
                                    x-kubernetes-preserve-unknown-fields: true
                            httpMatch:
                              type: array
                              items:
                                type: object
                                properties:
                                  method: {type: string}
                                  path: &text
                                    type: object
                                    properties:
                                      exact: {type: string}
                                      glob: {type: string}
                                      regex: {type: string}
                                  host: *text
                                  url: *text
                        delay:
                          type: object
                          required: [fixedDelay]
                          properties:
                            fixedDelay: {description: A duration such as 200ms or 1s., type: string}
                            maxDelay: {description: With it, the delay is drawn uniformly from fixedDelay to maxDelay., type: string}
                            percent: &percent {x-kubernetes-int-or-string: true, description: 0-100; unset means 100.}
                        abort:
                          type: object
                          required: [httpStatus]
                          properties:
                            httpStatus: {type: integer, minimum: 400, maximum: 599}
                            percent: *percent
                            message: {type: string}
                            retryAfterSeconds: {type: integer, minimum: 0}
                        watch:
                          description: Faults of the watch streams the rule matches.
                          type: object
                          properties:
                            closeAfterEvents: {type: integer, minimum: 0}
                            closeAfter: {type: string}
                            eventDelay: {type: string}
                            expire: {description: End with a 410 Expired ERROR event instead of a clean close., type: boolean}
                            percent: *percent
                        effectiveTime:
                          description: When the rule applies, in UTC; startTime and endTime are HH:MM[:SS] (daily) or RFC 3339 instants.
                          type: object
                          properties:
                            startTime: {type: string}
                            endTime: {type: string}
                            daysOfWeek: {type: array, items: {type: integer, minimum: 0, maximum: 6}}
                            daysOfMonth: {type: array, items: {type: integer, minimum: 1, maximum: 31}}
                            months: {type: array, items: {type: integer, minimum: 1, maximum: 12}}
              status:
                type: object
                x-kubernetes-preserve-unknown-fields: true
    """#

    public static let circuitBreaker = #"""
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    metadata:
      name: circuitbreakers.ctrlmesh.kruise.io
    spec:
      group: ctrlmesh.kruise.io
      names:
        kind: CircuitBreaker
        listKind: CircuitBreakerList
        plural: circuitbreakers
        singular: circuitbreaker
        shortNames: [cb]
      scope: Namespaced
      versions:
      - name: v1alpha1
        served: true
        storage: true
        subresources:
          status: {}
        additionalPrinterColumns:
        - {name: Spec, type: string, jsonPath: .status.currentSpecHash}
        - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
        schema:
          openAPIV3Schema:
            description: CircuitBreaker rate-limits, bounds and denies chosen API calls of the selected operator pods at their ctrlmesh proxy.
            type: object
            required: [spec]
            properties:
              apiVersion: {type: string}
              kind: {type: string}
              metadata: {type: object}
              spec:
                type: object
                required: [selector]
                properties:
                  selector:
                    description: The operator pods (in this namespace) whose proxies enforce the rules.
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
                  rateLimitings:
                    type: array
                    items:
                      type: object
                      required: [name]
                      properties:
                        name: {type: string}
                        match:
                          description: As a FaultInjection rule's match (resources with names and label selectors, httpMatch).
                          type: object
                          x-kubernetes-preserve-unknown-fields: true
                        resourceRules:
                          description: KusionStack's form of a resource match.
                          type: array
                          items:
                            type: object
                            properties:
                              apiGroups: {type: array, items: {type: string}}
                              resources: {type: array, items: {type: string}}
                              verbs: {type: array, items: {type: string}}
                              namespaces: {type: array, items: {type: string}}
                        restRules:
                          type: array
                          items:
                            type: object
                            properties:
                              method: {type: string}
                              url: {type: string}
                        bucket:
                          description: limit tokens every interval, at most burst saved up.
                          type: object
                          required: [limit, interval]
                          properties:
                            limit: {type: integer, minimum: 1}
                            burst: {type: integer, minimum: 1}
                            interval: {type: string}
                        maxInFlight: {type: integer, minimum: 1}
                        scope:
                          description: Operator (default) shares one bucket among every selected pod, kept by the mesh manager; Pod gives each proxy its own.
                          type: string
                          enum: [Operator, Pod]
                        overLimit:
                          type: object
                          properties:
                            action: {type: string, enum: [Reject, Wait]}
                            maxWait: {type: string}
                            maxQueued: {type: integer, minimum: 0}
                        triggerPolicy: {type: string, enum: [Normal, LimiterOnly, ForceOpened, ForceClosed]}
                        recoverPolicy:
                          type: object
                          properties:
                            type: {type: string, enum: [Manual, SleepingWindow]}
                            sleepingWindowSize: {type: string}
                  trafficInterceptRules:
                    type: array
                    items:
                      type: object
                      properties:
                        name: {type: string}
                        interceptType: {type: string, enum: [Whitelist, Blacklist]}
                        contentType: {type: string, enum: [Normal, Regexp]}
                        contents: {type: array, items: {type: string}}
                        methods: {type: array, items: {type: string}}
                        match:
                          type: object
                          x-kubernetes-preserve-unknown-fields: true
              status:
                type: object
                x-kubernetes-preserve-unknown-fields: true
    """#
}
