import HotswapCore

/// How long one read of the catalog or a token file may take before it counts as hung. A local read takes
/// microseconds and a healthy network mount milliseconds; five seconds only ever catches a mount that stopped
/// answering.
public let fileReadDeadline: Duration = .seconds(5)

extension BlockingLane {
    /// Reads a regular file on the lane's thread, failing with a reason an operator can act on when the read does
    /// not finish within `timeout` or an earlier read of the same lane is still stuck.
    public func read(_ path: String, limit: Int, within timeout: Duration = fileReadDeadline) async -> Result<
        [UInt8], FileIO.Failure
    > {
        let outcome = await run(within: timeout) {
            Result { () throws(FileIO.Failure) in try FileIO.read(path, limit: limit, regularOnly: true) }
        }
        switch outcome {
        case .done(let result): return result
        case .timedOut: return .failure(Self.hung(path, timeout))
        case .busy: return .failure(Self.stillHung(path))
        }
    }

    public static func hung(_ path: String, _ timeout: Duration) -> FileIO.Failure {
        FileIO.Failure(
            path: path,
            reason: "did not answer within \(timeout.inSeconds) s (a hung network mount?); check the mount",
            errno: nil)
    }

    static func stillHung(_ path: String) -> FileIO.Failure {
        FileIO.Failure(
            path: path, reason: "an earlier read has still not returned (a hung network mount?); check the mount",
            errno: nil)
    }
}
