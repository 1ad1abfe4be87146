import Foundation

/// A server warming up beside live traffic runs at a lower CPU priority (nice +10) until it is swapped in: on a
/// machine with few cores, the start of a Python or Node server (seconds of imports) otherwise competes on equal
/// terms with the servers answering calls. Set on the server's process group, so a launcher's children (`uvx`,
/// `npx`) and every thread are included.
///
/// Only where it can be undone: putting a process back to the gateway's own priority needs `CAP_SYS_NICE` (root
/// on a host, not in a default container) or an `RLIMIT_NICE` that allows it. Without either, a lowered server
/// would stay lowered for its whole life, so nothing is lowered.
public enum WarmPriority {
    /// How much lower than the gateway a warming server runs.
    public static let step: Int32 = 10

    /// Whether servers are lowered while they warm (a lowered server can be put back).
    public static let available: Bool = {
        var limit = rlimit()
        if getrlimit(Int32(__RLIMIT_NICE.rawValue), &limit) == 0,
            limit.rlim_cur == rlim_t.max || 20 - Int(ownNiceness()) <= Int(limit.rlim_cur)
        {
            return true
        }
        return hasSysNice()
    }()

    /// Lowers the process group `group` (a server's: its pid) while it warms.
    public static func lower(group: pid_t) {
        guard available else { return }
        _ = setpriority(__priority_which_t(PRIO_PGRP.rawValue), id_t(group), min(19, ownNiceness() + step))
    }

    /// Puts the group back at the gateway's own priority: it serves calls now.
    public static func restore(group: pid_t) {
        guard available else { return }
        _ = setpriority(__priority_which_t(PRIO_PGRP.rawValue), id_t(group), ownNiceness())
    }

    /// The niceness of a process (its main thread), from `getpriority`; nil when it is gone.
    public static func niceness(of pid: pid_t) -> Int32? {
        errno = 0
        let value = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(pid))
        return value == -1 && errno != 0 ? nil : value
    }

    private static func ownNiceness() -> Int32 { niceness(of: getpid()) ?? 0 }

    /// `CAP_SYS_NICE` (bit 23) in the effective set, read from `/proc/self/status`.
    private static func hasSysNice() -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
            let bits = UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces), radix: 16)
        else { return false }
        return bits & (1 << 23) != 0
    }
}
