import MeshHTTP
import KubeModel
import NIOCore
import NIOHTTP1

/// watch: 200 at once, then one JSON event per line, flushed as events come.
extension APIServer {
    func watch(_ c: RequestContext, writer: ResponseWriter) async throws {
        var filter = try ObjectFilter(namespace: c.info.namespace, query: c.query, info: c.resource)
        if let name = c.info.name {
            // A watch on /resource/NAME is a watch with a metadata.name field selector.
            filter.fields.requirements.append(.init(field: "metadata.name", value: name, negated: false))
        }
        let bookmarks = c.query.bool("allowWatchBookmarks")
        let sendInitialEvents: Bool? = c.query["sendInitialEvents"] == nil ? nil : c.query.bool("sendInitialEvents")
        if sendInitialEvents == true {
            guard c.query["resourceVersionMatch"] == "NotOlderThan" else {
                throw StatusError.invalid(kind: "ListOptions", group: "meta.k8s.io", name: "", causes: [
                    .init(reason: "FieldValueForbidden", message: "Forbidden: sendInitialEvents is forbidden for watch unless resourceVersionMatch is set to NotOlderThan", field: "sendInitialEvents")])
            }
        }
        var from: UInt64?
        let requested = c.query["resourceVersion"] ?? ""
        if sendInitialEvents != true, !requested.isEmpty, requested != "0" {
            guard let rv = UInt64(requested) else { throw StatusError.badRequest("invalid resourceVersion \"\(requested)\"") }
            from = min(rv, store.currentResourceVersion)
        }

        let table = c.wantsTable ? TableConverter(resource: c.resource) : nil
        let frames = WatchFrames(resource: c.resource, table: table, filter: filter)
        let started: (subscription: WatchSubscription, initial: [StoredObject], replay: [StoreEvent])
        do {
            started = try store.watch(c.gr, fromResourceVersion: from)
        } catch let error {
            // Too old: 200 with one ERROR event, as the API server's watch cache answers.
            try await writer.writeHead(status: .ok, headers: ["content-type": "application/json"])
            try await writer.writeBody(error.watchErrorEvent)
            try await writer.end()
            return
        }
        let subscription = started.subscription
        defer { subscription.cancel() }

        try await writer.writeHead(status: .ok, headers: ["content-type": "application/json", "cache-control": "no-cache, private"])
        var out: [UInt8] = []
        for object in started.initial where filter.matches(object) {
            frames.append(type: "ADDED", object: object, into: &out)
        }
        if sendInitialEvents == true {
            frames.appendBookmark(resourceVersion: store.currentResourceVersion, initialEventsEnd: true, into: &out)
        }
        for event in started.replay { frames.append(event, into: &out) }
        if !out.isEmpty { try await writer.writeBody(writer.allocator.buffer(bytes: out)) }

        // Timers feed the same queue as the store, so one loop handles everything in order.
        let store = self.store
        var timers: [Task<Void, Never>] = []
        defer { timers.forEach { $0.cancel() } }
        if bookmarks {
            let interval = options.bookmarkInterval
            timers.append(Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    if Task.isCancelled { return }
                    store.queueBookmark(subscription)
                }
            })
        }
        if let timeout = (try? c.query.int("timeoutSeconds")).flatMap({ $0 }), timeout > 0 {
            // Any int64 is a valid timeoutSeconds; past 68 years a deadline would overflow the clock.
            let seconds = min(timeout, Int64(Int32.max))
            timers.append(Task {
                try? await Task.sleep(for: .seconds(seconds))
                if !Task.isCancelled { subscription.finish() }
            })
        }
        while let batch = await subscription.next() {
            out.removeAll(keepingCapacity: true)
            for signal in batch {
                switch signal {
                case .event(let event): frames.append(event, into: &out)
                case .bookmark(let rv) where bookmarks: frames.appendBookmark(resourceVersion: rv, initialEventsEnd: false, into: &out)
                case .bookmark: break
                }
            }
            if !out.isEmpty { try await writer.writeBody(writer.allocator.buffer(bytes: out)) }
        }
        if subscription.overflowed {
            try await writer.writeBody(StatusError.expired("watch of \(c.gr) fell too far behind; relist").watchErrorEvent)
        }
        try await writer.end()
    }
}

/// Encodes watch events: selector transitions become ADDED/DELETED, objects become Table rows
/// when asked.
struct WatchFrames {
    let resource: ResourceInfo
    let table: TableConverter?
    let filter: ObjectFilter

    func append(_ event: StoreEvent, into out: inout [UInt8]) {
        switch event.type {
        case .added:
            if filter.matches(event.object) { append(type: "ADDED", object: event.object, into: &out) }
        case .deleted:
            if filter.matches(event.previous ?? event.object) { append(type: "DELETED", object: event.object, into: &out) }
        case .modified:
            let now = filter.matches(event.object)
            let before = event.previous.map(filter.matches) ?? false
            switch (before, now) {
            case (true, true): append(type: "MODIFIED", object: event.object, into: &out)
            case (false, true): append(type: "ADDED", object: event.object, into: &out)
            case (true, false): append(type: "DELETED", object: event.object, into: &out)
            case (false, false): break
            }
        }
    }

    func append(type: String, object: StoredObject, into out: inout [UInt8]) {
        out.append(contentsOf: "{\"type\":\"".utf8)
        out.append(contentsOf: type.utf8)
        out.append(contentsOf: "\",\"object\":".utf8)
        if let table {
            table.table(for: [object], resourceVersion: object.resourceVersion, includeObject: nil).write(into: &out)
        } else if object.json.apiVersion == resource.apiVersion {
            out.append(contentsOf: object.bytes)
        } else {
            var json = object.json
            json["apiVersion"] = .string(resource.apiVersion)
            json.write(into: &out)
        }
        out.append(contentsOf: "}\n".utf8)
    }

    func appendBookmark(resourceVersion: UInt64, initialEventsEnd: Bool, into out: inout [UInt8]) {
        var metadata: JSON = ["resourceVersion": .string(String(resourceVersion))]
        if initialEventsEnd { metadata["annotations"] = ["k8s.io/initial-events-end": "true"] }
        let object: JSON = ["kind": .string(resource.kind), "apiVersion": .string(resource.apiVersion), "metadata": metadata]
        let event: JSON = ["type": "BOOKMARK", "object": object]
        event.write(into: &out)
        out.append(UInt8(ascii: "\n"))
    }

}
