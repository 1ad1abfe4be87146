import Foundation
import HTTPTypes
import HotswapAPI
import HotswapCore
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// Who may call the mutating routes (DESIGN, "Control and admin API").
public struct AdminAuthorizer: Sendable {
    /// Nil when no verify key is configured: then only the gateway's own uid, on the Unix socket, may mutate.
    public let verifier: ReloadTokenVerifier?

    public init(verifier: ReloadTokenVerifier?) {
        self.verifier = verifier
    }

    /// A refusal with its HTTP status and machine-readable reason.
    public struct Refusal: Error, Sendable {
        public var status: Int
        public var reason: String
        public var message: String

        init(status: Int, reason: String, message: String) {
            self.status = status
            self.reason = reason
            self.message = message
        }

        init(_ token: TokenRefusal) {
            self.init(status: token.reason.httpStatus, reason: token.reason.rawValue, message: token.message)
        }
    }

    /// Checks a request from its headers alone, before its body is read: without verify keys, the caller's uid
    /// on the control socket; with them, a Bearer token that verifies for `op` in everything but the content
    /// hash (not consumed yet). A caller without a valid token gets its refusal before costing a byte of buffer.
    func preauthorize(_ request: Request, _ context: GatewayContext, op: String, server: String? = nil) async
        -> Result<Void, Refusal>
    {
        guard let verifier else { return await checkPeer(context).map { _ in () } }
        guard let token = Self.bearer(request) else { return .failure(Self.missingToken) }
        do {
            _ = try verifier.verify(token, expecting: TokenExpectation(op: op, server: server), consume: false)
            return .success(())
        } catch {
            return .failure(Refusal(error))
        }
    }

    /// The full check before a request is queued or run: with keys, the token against `expectation` (the hash
    /// of the very bytes about to be applied), consumed so it is never accepted again. Returns its claims.
    func check(_ request: Request, _ context: GatewayContext, expectation: TokenExpectation) async
        -> Result<ReloadClaims?, Refusal>
    {
        guard let verifier else { return await checkPeer(context) }
        guard let token = Self.bearer(request) else { return .failure(Self.missingToken) }
        do {
            return .success(try verifier.verify(token, expecting: expectation))
        } catch {
            return .failure(Refusal(error))
        }
    }

    private static let missingToken = Refusal(
        status: 401, reason: "missing", message: "this route needs Authorization: Bearer <reload token>")

    /// Without verify keys: only the gateway's own uid, and only on the control socket.
    private func checkPeer(_ context: GatewayContext) async -> Result<ReloadClaims?, Refusal> {
        guard context.isUnixSocket else {
            return .failure(
                Refusal(
                    status: 403, reason: "no_verify_key",
                    message: "no verify key is configured: mutating routes are accepted only on the control socket"))
        }
        guard let uid = await peerUID(context.channel) else {
            return .failure(Refusal(status: 403, reason: "peer_unknown", message: "cannot read the caller's uid"))
        }
        guard uid == geteuid() else {
            return .failure(
                Refusal(
                    status: 403, reason: "wrong_uid",
                    message:
                        "uid \(uid) may not call this: without verify keys only the gateway's uid (\(geteuid())) may"
                ))
        }
        return .success(nil)
    }

    static func bearer(_ request: Request) -> String? {
        guard let value = request.headers[.authorization] else { return nil }
        let parts = value.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return String(parts[1])
    }

    private func peerUID(_ channel: any Channel) async -> UInt32? {
        guard let provider = channel as? any SocketOptionProvider else { return nil }
        let cred: PeerCredentials? = try? await provider.unsafeGetSocketOption(
            level: .socket, name: NIOBSDSocket.Option(rawValue: SO_PEERCRED)
        ).get()
        return cred?.uid
    }
}

/// The layout of `struct ucred` (pid_t, uid_t, gid_t), read with SO_PEERCRED.
struct PeerCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

/// Builds the router shared by the control socket and the TCP listener.
