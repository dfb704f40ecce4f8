import KubeModel

/// What fault and breaker rules see of one request, classified once by the proxy: the HTTP
/// method, path and upstream URL, the resource coordinates when it is a resource request, and
/// the name and labels its body gives a created or replaced object.
public struct RequestFacts: Sendable {
    public var method: String
    public var path: String
    /// `scheme://host[:port]` of the API server the request goes to.
    public var upstream: String
    public var info: RequestInfo?
    /// The object's name, from the path or (for a create) the body.
    public var name: String?
    /// The labels of the object the body carries (creates and updates), when read.
    public var labels: [String: String]?

    public init(method: String, path: String, upstream: String = "", info: RequestInfo?, name: String? = nil,
                labels: [String: String]? = nil) {
        self.method = method
        self.path = path
        self.upstream = upstream
        self.info = info
        self.name = name ?? info?.name
        self.labels = labels
    }

    /// The full URL as KusionStack's REST rules and traffic-intercept rules match it.
    public var url: String { upstream + path }
}
