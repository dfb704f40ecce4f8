import Foundation

/// RFC 3339 timestamps in UTC, as `metav1.Time` (seconds) and `metav1.MicroTime` (six
/// fractional digits) serialize.
public enum Timestamp {
    public static func now() -> String { format(Date()) }

    /// A `metav1.MicroTime`: RFC 3339 with microseconds, as Lease times are written.
    public static func microTime(_ date: Date) -> String {
        let interval = date.timeIntervalSince1970
        let seconds = interval.rounded(.down)
        return format(seconds: Int64(seconds), microseconds: Int32(((interval - seconds) * 1_000_000).rounded(.down)))
    }

    public static func format(_ date: Date) -> String {
        format(seconds: Int64(date.timeIntervalSince1970.rounded(.down)))
    }

    /// With `microseconds`, the MicroTime form `2006-01-02T15:04:05.000000Z`.
    public static func format(seconds: Int64, microseconds: Int32? = nil) -> String {
        var t = time_t(seconds)
        var tm = tm()
        gmtime_r(&t, &tm)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        let base = "\(pad(tm.tm_year + 1900, 4))-\(pad(tm.tm_mon + 1, 2))-\(pad(tm.tm_mday, 2))T\(pad(tm.tm_hour, 2)):\(pad(tm.tm_min, 2)):\(pad(tm.tm_sec, 2))"
        guard let microseconds else { return base + "Z" }
        return base + "." + pad(microseconds, 6) + "Z"
    }

    /// Parses the RFC 3339 forms Kubernetes writes (fractional seconds and offsets allowed).
    public static func parse(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        if let d = formatter.date(from: text) { return d }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }

    /// kubectl's AGE format: 5s, 3m, 2m5s, 4h, 3d, 2y.
    public static func age(since text: String?, now: Date = Date()) -> String {
        guard let text, let date = parse(text) else { return "<unknown>" }
        let seconds = max(0, Int(now.timeIntervalSince(date)))
        if seconds < 120 { return "\(seconds)s" }
        let minutes = seconds / 60
        if minutes < 10 { return seconds % 60 == 0 ? "\(minutes)m" : "\(minutes)m\(seconds % 60)s" }
        if minutes < 180 { return "\(minutes)m" }
        let hours = minutes / 60
        if hours < 8 { return minutes % 60 == 0 ? "\(hours)h" : "\(hours)h\(minutes % 60)m" }
        if hours < 48 { return "\(hours)h" }
        let days = hours / 24
        if days < 8 { return hours % 24 == 0 ? "\(days)d" : "\(days)d\(hours % 24)h" }
        if days < 730 { return "\(days)d" }
        return "\(days / 365)y"
    }
}
