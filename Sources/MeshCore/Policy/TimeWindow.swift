import Foundation
import KubeModel

/// When a rule is in effect (KusionStack's `effectiveTime`), in UTC: between `startTime` and
/// `endTime` — each an RFC 3339 instant, or a time of day `HH:MM[:SS]` that repeats daily and
/// may wrap past midnight — on the listed days of the week (0 = Sunday), days of the month
/// and months (1–12). Every part left out allows everything.
public struct TimeWindow: Sendable, Equatable {
    public enum Bound: Sendable, Equatable {
        /// Seconds since the Unix epoch.
        case instant(Double)
        /// Seconds since midnight UTC.
        case timeOfDay(Int)
    }

    public var start: Bound?
    public var end: Bound?
    public var daysOfWeek: Set<Int> = []
    public var daysOfMonth: Set<Int> = []
    public var months: Set<Int> = []

    public init(start: Bound? = nil, end: Bound? = nil, daysOfWeek: Set<Int> = [], daysOfMonth: Set<Int> = [], months: Set<Int> = []) {
        self.start = start
        self.end = end
        self.daysOfWeek = daysOfWeek
        self.daysOfMonth = daysOfMonth
        self.months = months
    }

    /// Reads `HH:MM`, `HH:MM:SS` or an RFC 3339 timestamp.
    public static func bound(_ text: String) -> Bound? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        if (2...3).contains(parts.count), parts.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isNumber) }) {
            let values = parts.compactMap { Int($0) }
            let (h, m, s) = (values[0], values[1], values.count == 3 ? values[2] : 0)
            guard h < 24, m < 60, s < 60 else { return nil }
            return .timeOfDay(h * 3600 + m * 60 + s)
        }
        return Timestamp.parse(text).map { .instant($0.timeIntervalSince1970) }
    }

    public func contains(_ epochSeconds: Double) -> Bool {
        let day = CivilDay(epochSeconds: epochSeconds)
        if !daysOfWeek.isEmpty, !daysOfWeek.contains(day.weekday) { return false }
        if !daysOfMonth.isEmpty, !daysOfMonth.contains(day.day) { return false }
        if !months.isEmpty, !months.contains(day.month) { return false }
        let timeOfDay = day.secondOfDay
        switch (start, end) {
        case (.timeOfDay(let from), .timeOfDay(let to)):
            // A window like 22:00–02:00 wraps midnight.
            return from <= to ? (from <= timeOfDay && timeOfDay < to) : (timeOfDay >= from || timeOfDay < to)
        default:
            if let start, !TimeWindow.after(start, epochSeconds, timeOfDay: timeOfDay) { return false }
            if let end, TimeWindow.after(end, epochSeconds, timeOfDay: timeOfDay) { return false }
            return true
        }
    }

    /// Whether the moment is at or past the bound.
    static func after(_ bound: Bound, _ epochSeconds: Double, timeOfDay: Int) -> Bool {
        switch bound {
        case .instant(let at): epochSeconds >= at
        case .timeOfDay(let at): timeOfDay >= at
        }
    }
}

/// The UTC calendar day of an instant (proleptic Gregorian, from days since the epoch): the
/// fields time windows read.
struct CivilDay: Equatable {
    var month: Int
    var day: Int
    /// 0 = Sunday.
    var weekday: Int
    var secondOfDay: Int

    init(epochSeconds: Double) {
        let seconds = Int(epochSeconds.rounded(.down))
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        secondOfDay = seconds - days * 86400
        weekday = ((days % 7) + 11) % 7  // 1970-01-01 was a Thursday
        // Days to civil date (Howard Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        day = dayOfYear - (153 * mp + 2) / 5 + 1
        month = mp < 10 ? mp + 3 : mp - 9
    }
}
