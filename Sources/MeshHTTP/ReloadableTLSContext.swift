import NIOSSL
import Synchronization

/// A server TLS context that can be swapped while the server runs: new connections use the
/// one in place when they are accepted; open connections keep theirs.
public final class ReloadableTLSContext: Sendable {
    private let context: Mutex<NIOSSLContext>

    public init(_ context: NIOSSLContext) {
        self.context = Mutex(context)
    }

    public var current: NIOSSLContext { context.withLock { $0 } }

    public func replace(with context: NIOSSLContext) {
        self.context.withLock { $0 = context }
    }
}
