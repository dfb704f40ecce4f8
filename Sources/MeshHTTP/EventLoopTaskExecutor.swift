import NIOCore

/// Runs task jobs on one event loop. A responder started with this preference runs on its
/// connection's own thread, and so does the upstream client when it picks "the current event
/// loop": a proxied request then never wakes another thread.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
