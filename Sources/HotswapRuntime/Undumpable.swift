import CHotswapSys

/// Keeps a process's secrets from other processes of its user.
public enum Undumpable {
    /// Marks this process undumpable: its /proc files become root's, so a process of the same user cannot read
    /// its memory, or its container's files through /proc/PID/root (a pod with `shareProcessNamespace`,
    /// compose's `pid: service:`, where the gateway's servers run as the same user). Nil, or why it failed.
    public static func apply() -> String? {
        let error = hotswap_set_undumpable()
        return error == 0 ? nil : "prctl(PR_SET_DUMPABLE, 0): errno \(error)"
    }
}
