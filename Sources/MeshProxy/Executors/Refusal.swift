import KubeModel

/// A Status the proxy answers itself; nothing goes upstream.
struct Refusal: AsyncExecutor {
    let proxy: ShardProxy
    let status: StatusError

    func run(_ call: AsyncCall) async {
        await proxy.refuse(status, writer: call.writer)
    }
}
