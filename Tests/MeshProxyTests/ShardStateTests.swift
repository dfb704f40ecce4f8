import KubeModel
import MeshCore
@testable import MeshProxy
import Synchronization
import Testing

@Suite struct ShardStateTests {
    let configmaps = GroupResource(group: "", resource: "configmaps")
    let secrets = GroupResource(group: "", resource: "secrets")

    func spec(_ namespaces: Set<String>, epoch: UInt64, resources: [String] = ["configmaps"]) -> ShardSpec {
        ShardSpec(shard: "s", epoch: epoch, resources: [.init(apiGroups: [""], resources: resources, key: .namespace)],
                  owned: .init(namespaces: namespaces))
    }

    /// A new epoch is applied only after the writes admitted under the old spec finish.
    @Test func applyWaitsForInFlightWrites() async throws {
        let state = ShardState()
        await state.apply(spec(["a"], epoch: 1))
        let write = state.beginWrite(configmaps)
        #expect(write.spec?.epoch == 1 && write.sharded)
        #expect(state.departureRefusal(write) == nil)
        let applying = Task { await state.apply(spec(["b"], epoch: 2)) }
        try await Task.sleep(for: .milliseconds(100))
        #expect(state.spec?.epoch == 2, "new requests see the new spec at once")
        #expect(state.appliedEpoch == 1, "but the epoch is not applied while an old write is in flight")
        // The write admitted under epoch 1 is aborted, never sent under epoch 2.
        let refusal = try #require(state.departureRefusal(write))
        #expect(refusal.code == 503 && refusal.message.contains("from epoch 1 to 2"))
        state.endWrite(write)
        await applying.value
        #expect(state.appliedEpoch == 2)
    }

    /// A write leaves only while the member lease is valid and while it is young: a proxy
    /// paused with a write in hand does not send it when it resumes.
    @Test func writesDoNotLeaveAfterTheLeaseLapsesOrWhenTheyAreOld() async throws {
        let valid = LeaseFlag()
        let state = ShardState(maxWriteAge: .milliseconds(200))
        state.requireLease { valid.value }
        await state.apply(spec(["a"], epoch: 1))
        let write = state.beginWrite(configmaps)
        #expect(state.departureRefusal(write) == nil)
        valid.set(false)
        #expect(state.departureRefusal(write)?.message.contains("lease lapsed") == true)
        valid.set(true)
        try await Task.sleep(for: .milliseconds(300))
        #expect(state.departureRefusal(write)?.message.contains("longer than") == true)
        state.endWrite(write)
        // Writes to resources the spec does not shard are not the fence's to hold back.
        let unsharded = state.beginWrite(secrets)
        valid.set(false)
        #expect(!unsharded.sharded && state.departureRefusal(unsharded) == nil)
        state.endWrite(unsharded)
    }

    /// Streams of resources whose slice changed are revoked; others keep going.
    @Test func revokesOnlyAffectedStreams() async throws {
        let state = ShardState()
        await state.apply(spec(["a"], epoch: 1))
        let affected = state.registerStream(configmaps) {}
        let unaffected = state.registerStream(secrets) {}
        let applying = Task { await state.apply(spec(["b"], epoch: 2)) }
        var revocations = affected.revocations.makeAsyncIterator()
        _ = await revocations.next()
        #expect(affected.revoked && !unaffected.revoked)
        #expect(state.appliedEpoch == 1)
        state.deregister(affected)
        await applying.value
        #expect(state.appliedEpoch == 2 && !unaffected.revoked)
        state.deregister(unaffected)
    }

    /// A stream that does not end when revoked has its connection closed.
    @Test func abortsStreamsThatDoNotEnd() async {
        let state = ShardState()
        let stuck = state.registerStream(configmaps) {}
        let aborted = AbortFlag()
        let stuckWithAbort = state.registerStream(configmaps) { aborted.set() }
        let applying = Task { await state.apply(spec(["a"], epoch: 1)) }
        state.deregister(stuck)
        while !aborted.value { try? await Task.sleep(for: .milliseconds(50)) }
        state.deregister(stuckWithAbort)
        await applying.value
        #expect(state.appliedEpoch == 1)
    }

    /// resourceVersions handed out before a change of a resource's slice send a resuming
    /// watch back to relist; lists served afterwards and unrelated resources do not.
    @Test func staleResourceVersionsAndContinueTokens() async {
        let state = ShardState()
        await state.apply(spec(["a"], epoch: 1))
        let list = state.registerStream(configmaps) {}
        state.noteList(configmaps, ticket: list, resourceVersion: "100", continueToken: "tok")
        state.deregister(list)
        state.noteDelivered(resourceVersion: "120")
        #expect(!state.watchNeedsRelist(configmaps, resourceVersion: "100"))
        await state.apply(spec(["b"], epoch: 2))
        #expect(state.watchNeedsRelist(configmaps, resourceVersion: "100"))
        #expect(state.watchNeedsRelist(configmaps, resourceVersion: "120"))
        #expect(!state.watchNeedsRelist(configmaps, resourceVersion: "121"))
        #expect(!state.watchNeedsRelist(configmaps, resourceVersion: "0"))
        #expect(!state.watchNeedsRelist(configmaps, resourceVersion: nil))
        #expect(!state.watchNeedsRelist(secrets, resourceVersion: "100"))
        #expect(state.continueIsStale(configmaps, token: "tok"))
        #expect(!state.continueIsStale(configmaps, token: "unknown"))
        // A list served after the change at the same resourceVersion is fresh.
        let fresh = state.registerStream(configmaps) {}
        state.noteList(configmaps, ticket: fresh, resourceVersion: "120", continueToken: nil)
        state.deregister(fresh)
        #expect(!state.watchNeedsRelist(configmaps, resourceVersion: "120"))
    }

    /// A list the change revoked while it ran completes under its old slice; a watch from its
    /// resourceVersion relists, until a list served under the new slice returns that version.
    @Test func aListRevokedMidFlightSendsItsWatchBackToRelist() async {
        let state = ShardState()
        await state.apply(spec(["a"], epoch: 1))
        let list = state.registerStream(configmaps) {}
        let applying = Task { await state.apply(spec(["b"], epoch: 2)) }
        var revocations = list.revocations.makeAsyncIterator()
        _ = await revocations.next()
        #expect(state.appliedEpoch == 1, "the change waits for the list to finish")
        state.noteList(configmaps, ticket: list, resourceVersion: "300", continueToken: nil)
        state.deregister(list)
        await applying.value
        #expect(state.watchNeedsRelist(configmaps, resourceVersion: "300"))
        #expect(!state.watchNeedsRelist(secrets, resourceVersion: "300"))
        let fresh = state.registerStream(configmaps) {}
        state.noteList(configmaps, ticket: fresh, resourceVersion: "300", continueToken: nil)
        state.deregister(fresh)
        #expect(!state.watchNeedsRelist(configmaps, resourceVersion: "300"))
    }

    @Test func sliceChangesAreDetectedPerResource() {
        let a = spec(["a"], epoch: 1)
        #expect(ShardState.sliceChanged(configmaps, old: nil, new: a))
        #expect(!ShardState.sliceChanged(configmaps, old: a, new: spec(["a"], epoch: 2)))
        #expect(ShardState.sliceChanged(configmaps, old: a, new: spec(["b"], epoch: 2)))
        #expect(!ShardState.sliceChanged(secrets, old: a, new: spec(["b"], epoch: 2)))
        #expect(ShardState.sliceChanged(secrets, old: a, new: spec(["a"], epoch: 2, resources: ["configmaps", "secrets"])))
    }
}

final class AbortFlag: Sendable {
    let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .sequentiallyConsistent) }
    var value: Bool { flag.load(ordering: .sequentiallyConsistent) }
}

final class LeaseFlag: Sendable {
    let flag = Mutex(true)
    var value: Bool { flag.withLock { $0 } }
    func set(_ value: Bool) { flag.withLock { $0 = value } }
}
