import NIOCore

/// A deadline that moves on every request but rarely fires. Moving it schedules nothing while
/// a timer is already due no later; when that timer fires early it re-arms for the rest. A
/// timer scheduled and cancelled per request cost about as much as parsing the request.
struct LazyDeadline {
    private(set) var due: NIODeadline?
    private var timer: Scheduled<Void>?
    private var timerDue: NIODeadline?

    /// Sets the deadline. `schedule` makes the timer that calls `fired` at a time.
    mutating func move(to due: NIODeadline, schedule: (NIODeadline) -> Scheduled<Void>) {
        self.due = due
        if timer != nil, let timerDue, timerDue <= due { return }
        timer?.cancel()
        timer = schedule(due)
        timerDue = due
    }

    /// The timer fired: true when the deadline has passed (it is cleared); otherwise the timer
    /// is re-armed for the time left.
    mutating func fired(schedule: (NIODeadline) -> Scheduled<Void>) -> Bool {
        timer = nil
        timerDue = nil
        guard let due else { return false }
        if due <= .now() {
            self.due = nil
            return true
        }
        timer = schedule(due)
        timerDue = due
        return false
    }

    /// No deadline for now; a timer still pending finds none when it fires.
    mutating func clear() {
        due = nil
    }

    mutating func cancel() {
        timer?.cancel()
        timer = nil
        timerDue = nil
        due = nil
    }
}
