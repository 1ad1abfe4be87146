import HotswapCore
import HotswapRuntime

/// The revision without `initialize` the gateway speaks to a backend that has nothing else: every request
/// says who asks, a server asks its client by answering `input_required`, and list changes come on a
/// `subscriptions/listen` stream.
let modernProtocolVersion = MCPEndpoint.statelessVersions.last!

extension Offerings {
    /// Whether the server speaks revision 2026-07-28 (it refused `initialize` and answered `server/discover`).
    public var isModern: Bool { MCPEndpoint.statelessVersions.contains(protocolVersion) }
}

/// A backend of revision 2026-07-28 behind the gateway. The gateway opens every backend with `initialize`,
/// which servers of every earlier revision, and the SDKs' servers of both eras, accept; a server that refuses
/// it is asked `server/discover`, and from then on the session stamps the gateway's envelope on each request.
/// Clients of either era see no difference: a server's `input_required` is resolved by asking the calling
/// client (as an older server's requests are), log levels travel per request, and list changes and resource
/// subscriptions ride one `subscriptions/listen` stream.
extension Backend {
    /// How many `input_required` rounds one request may take before the gateway stops asking.
    static let maxInputRounds = 16

    /// The per-request envelope: the gateway as the client, with the capabilities it passes on. (The log level
    /// is per call: `call` adds it.)
    static let modernEnvelope: [String: JSONValue] = [
        MCPEndpoint.metaVersion: .string(modernProtocolVersion),
        MCPEndpoint.metaCapabilities: gatewayClientCapabilities,
        "io.modelcontextprotocol/clientInfo": ["name": "hotswap-gateway", "version": "0.1.0"],
    ]

    /// Asks a server that refused `initialize` whether it speaks 2026-07-28; its capabilities if it does.
    func discover(_ session: RPCSession, refusal: JSONValue, timeout: Duration) async throws -> Offerings {
        let refused = "server '\(id)' refused initialize: \(refusal.text)"
        session.setEnvelope(Self.modernEnvelope)
        let outcome: RPCOutcome
        do {
            outcome = try await session.request(method: "server/discover", params: nil, timeout: timeout)
        } catch let error as BackendError where error.kind == .timeout {
            throw BackendError(.startFailed, "\(refused); it did not answer server/discover either")
        }
        guard case .result(let result) = outcome,
            result["supportedVersions"]?.arrayValue?.contains(.string(modernProtocolVersion)) == true
        else {
            let answer: String
            switch outcome {
            case .result(let r): answer = "it offers \(r["supportedVersions"]?.text ?? "no versions")"
            case .error(let e): answer = "server/discover failed too: \(e.text)"
            }
            throw BackendError(
                .startFailed,
                "\(refused); \(answer), and the gateway speaks 2025-03-26 to 2025-11-25 and \(modernProtocolVersion)")
        }
        var offerings = Offerings()
        offerings.protocolVersion = modernProtocolVersion
        var capabilities = result["capabilities"]?.objectValue ?? [:]
        // The level travels with each request, and a server that does not log ignores it. The Python SDK's
        // servers log without announcing `logging` in their discover result, so it is taken as offered.
        if capabilities["logging"] == nil { capabilities["logging"] = [:] }
        offerings.capabilities = .object(capabilities)
        return offerings
    }

    /// Opens the server's `subscriptions/listen` stream (again) for its list changes and the resources
    /// clients subscribed to; the stream open before is cancelled. When the server ends it, it is opened again
    /// (after a pause that grows to 30 s while it keeps ending), for as long as this session is the server's.
    func listen(_ session: RPCSession, _ offerings: Offerings) {
        var asked: [String: JSONValue] = [:]
        for kind in ListKind.allCases where offerings.capabilities[kind.rawValue]?["listChanged"] == true {
            asked["\(kind.rawValue)ListChanged"] = true
        }
        let stop = SharedOutcome<Void>()
        // Only for the session the server has now: a late call for one that closed must not cancel its stream.
        guard
            let (previous, uris) = state.withLock({ s -> (SharedOutcome<Void>?, Set<String>)? in
                guard s.session === session else { return nil }
                defer { s.listening = stop }
                return (s.listening, s.subscribedURIs)
            })
        else { return }
        previous?.complete(.success(()))
        if !uris.isEmpty { asked["resourceSubscriptions"] = .array(uris.sorted().map { .string($0) }) }
        guard !asked.isEmpty else { return }
        let params: JSONValue = ["notifications": .object(asked)]
        tasks.spawn { [weak self, logger] in
            var pause = Duration.seconds(1)
            while !stop.isComplete {
                let ended = await withTaskGroup(of: Bool.self) { group in
                    group.addTask {
                        do {
                            let outcome = try await session.request(
                                method: "subscriptions/listen", params: params, timeout: Self.listenTimeout)
                            if case .error(let e) = outcome {
                                logger.warning("subscriptions/listen refused", metadata: ["error": "\(e.text)"])
                            }
                            return true
                        } catch is CancellationError {
                            return false
                        } catch {
                            // The session closed: the server stopped or is restarting, which opens its own.
                            return false
                        }
                    }
                    group.addTask {
                        _ = try? await stop.value()
                        return false
                    }
                    let first = await group.next() ?? false
                    group.cancelAll()
                    return first
                }
                guard ended, self?.state.withLock({ $0.session === session && $0.listening === stop }) == true
                else { return }
                // The server ended the stream on its own: listen again, without hammering it.
                guard (try? await Task.sleep(for: pause)) != nil else { return }
                pause = min(pause * 2, .seconds(30))
            }
        }
    }

    /// A listen stream has no answer to wait for: it ends when the server ends it or the gateway cancels it.
    static let listenTimeout = Duration.seconds(86_400 * 365)

    /// `resources/subscribe` and `resources/unsubscribe` for a 2026-07-28 server, which has neither: the set of
    /// subscribed resources changes and the listen stream is opened again with it.
    func resubscribe(_ method: String, _ params: JSONValue?) -> RPCOutcome {
        guard let uri = params?["uri"]?.stringValue else {
            return .error(["code": -32602, "message": "\(method) needs params.uri"])
        }
        let (session, offerings) = state.withLock { s -> (RPCSession?, Offerings?) in
            if method == "resources/subscribe" {
                s.subscribedURIs.insert(uri)
            } else {
                s.subscribedURIs.remove(uri)
            }
            return (s.session, s.offerings)
        }
        if let session, let offerings { listen(session, offerings) }
        return .result([:])
    }

    /// `logging/setLevel` for this server: sent on to a server of the older revisions; a 2026-07-28 server gets
    /// the level with each call of a client with a session from now on (`call` adds it).
    public func setLogLevel(_ params: JSONValue?) async {
        guard offerings?.isModern == true else {
            _ = try? await call(method: "logging/setLevel", params: params)
            return
        }
        let level = params?["level"]?.stringValue
        state.withLock { $0.modernLogLevel = level }
    }

    /// A request's `params` with `_meta[key]` set.
    static func with(meta key: String, _ value: JSONValue, in params: JSONValue?) -> JSONValue {
        var object = params?.objectValue ?? [:]
        var meta = object["_meta"]?.objectValue ?? [:]
        meta[key] = value
        object["_meta"] = .object(meta)
        return .object(object)
    }

    /// Resolves a 2026-07-28 server's `input_required` answers: each embedded request goes to the calling
    /// client (with the same rules as an older server's requests), and the request is sent again with the
    /// answers and the server's `requestState`, until the server answers for good. A client's error ends it.
    func resolvingInputs(
        _ first: RPCOutcome, params: JSONValue?, caller: (any CallerLink)?,
        retry: (JSONValue) async throws -> RPCOutcome
    ) async throws -> RPCOutcome {
        var outcome = first
        for _ in 0..<Self.maxInputRounds {
            guard case .result(let result) = outcome, result["resultType"] == "input_required" else { return outcome }
            var responses: [String: JSONValue] = [:]
            for (key, request) in result["inputRequests"]?.objectValue ?? [:] {
                let target = caller ?? state.withLock { $0.lastSession }
                switch await ask(request["method"]?.stringValue ?? "", request["params"], of: target) {
                case .result(let answer): responses[key] = answer
                case .error(let error) where error["code"] == -32601:
                    // The client lacks the capability the server needs: 2026-07-28 names that -32021.
                    return .error([
                        "code": -32021, "message": error["message"] ?? "missing client capability",
                        "data": ["method": request["method"] ?? .null],
                    ])
                case .error(let error): return .error(error)
                }
            }
            var object = params?.objectValue ?? [:]
            object["inputResponses"] = responses.isEmpty ? nil : .object(responses)
            object["requestState"] = result["requestState"]
            outcome = try await retry(.object(object))
        }
        return .error([
            "code": -32603,
            "message": .string(
                "server '\(id)' asked for input \(Self.maxInputRounds) times in one request; the gateway gave up"),
        ])
    }

    /// What a 2026-07-28 server's notification means here: its listen stream's acknowledgement and end are
    /// the gateway's own business, and the subscription id it tags the rest with is the gateway's listen, not
    /// any client's. Nil when there is nothing to pass on.
    static func fromListen(_ message: JSONValue) -> JSONValue? {
        let method = message["method"]?.stringValue ?? ""
        if method == "notifications/subscriptions/acknowledged" || method == "notifications/cancelled" { return nil }
        guard var object = message.objectValue, var params = object["params"]?.objectValue,
            var meta = params["_meta"]?.objectValue, meta[MCPEndpoint.metaSubscription] != nil
        else { return message }
        meta[MCPEndpoint.metaSubscription] = nil
        params["_meta"] = meta.isEmpty ? nil : .object(meta)
        object["params"] = .object(params)
        return .object(object)
    }
}
