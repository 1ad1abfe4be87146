/// The environment a spawned server starts with: a minimal base from the gateway's own, never all of it.
///
/// The gateway's environment holds every server's secrets (what `${VAR}` in the catalog expands from); a server
/// gets only what a process needs to run (a search path, a home, a locale, a time zone), the variables the
/// operator passes to every server with `--pass-env`, and then its own catalog `env`, which is where a server's
/// secrets belong (`env: { API_KEY: "${API_KEY}" }`).
public enum ChildEnvironment {
    /// Passed to every server when the gateway has them.
    public static let baseNames: Set<String> = [
        "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR",
    ]

    /// The base for a server: `baseNames`, every `LC_*` locale variable, and the names in `pass`.
    public static func base(from gateway: [String: String], passing pass: [String] = []) -> [String: String] {
        let extra = Set(pass)
        return gateway.filter { name, _ in
            baseNames.contains(name) || name.hasPrefix("LC_") || extra.contains(name)
        }
    }
}
