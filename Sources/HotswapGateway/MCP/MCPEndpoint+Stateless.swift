import Foundation
import HotswapCore

/// Revision 2026-07-28: no `initialize` and no session. Every request carries the protocol version and the
/// client's capabilities in `_meta`, its method and name in headers the gateway checks against the body, and
/// is answered on its own; `server/discover` describes the gateway, `subscriptions/listen` carries list changes
/// and resource updates, and a server's requests to the client become `input_required` results.
extension MCPEndpoint {
    public static let statelessVersions = ["2026-07-28"]
    static let metaVersion = "io.modelcontextprotocol/protocolVersion"
    static let metaCapabilities = "io.modelcontextprotocol/clientCapabilities"
    static let metaLogLevel = "io.modelcontextprotocol/logLevel"
    static let metaServerInfo = "io.modelcontextprotocol/serverInfo"
    static let metaSubscription = "io.modelcontextprotocol/subscriptionId"
    /// Every revision the gateway speaks, newest first.
    public static var allVersions: [String] { statelessVersions + supportedVersions }

    /// Whether a message is a 2026-07-28 one: the protocol header says so (as the SDKs route), or its `_meta`
    /// carries the protocol version (a client that sent no header).
    static func isStateless(_ message: JSONValue, protocolVersion: String?) -> Bool {
        if message["method"] == "initialize" { return false }
        if let protocolVersion { return statelessVersions.contains(protocolVersion) }
        return message["params"]?["_meta"]?[metaVersion] != nil
    }

    /// -32022 with the versions the gateway speaks (a client falls back to one of them).
    static func unsupportedVersion(id: JSONValue, requested: String) -> JSONValue {
        [
            "jsonrpc": "2.0", "id": id,
            "error": [
                "code": -32022,
                "message": .string(
                    "unsupported protocol version '\(requested)'; the gateway speaks \(allVersions.joined(separator: ", "))"
                ),
                "data": ["supported": .array(allVersions.map { .string($0) }), "requested": .string(requested)],
            ],
        ]
    }

    /// The HTTP status a 2026-07-28 answer goes with (the SDKs' table): 400 for a request at fault, 404 for an
    /// unknown method, 200 otherwise.
    static func statelessStatus(_ response: JSONValue) -> Int {
        switch response["error"]?["code"]?.intValue {
        case -32700, -32600, -32602, -32020, -32021, -32022: return 400
        case -32601: return 404
        default: return 200
        }
    }

    func postStateless(
        _ message: JSONValue, protocolVersion: String?, headers: [String: String],
        began: @Sendable (CallExchange) -> Void
    ) async -> Reply {
        guard let method = message["method"]?.stringValue, let id = message["id"], id != .null else {
            // Notifications (only notifications/cancelled exists, for stdio) and stray responses: accepted.
            return Reply(status: 202)
        }
        func refuse(_ code: Int64, _ text: String) -> Reply {
            let body = Self.error(id: id, code: code, message: text)
            return Reply(status: Self.statelessStatus(body), body: body)
        }
        let params = message["params"]
        let meta = params?["_meta"]
        let missing = [Self.metaVersion, Self.metaCapabilities].filter { meta?[$0] == nil }
        if !missing.isEmpty {
            return refuse(
                -32602, "params._meta is missing the required envelope key(s): \(missing.joined(separator: ", "))")
        }
        if let mismatch = Self.headerMismatch(
            method: method, params: params, protocolVersion: protocolVersion, headers: headers,
            tool: method == "tools/call" ? tool(named: params?["name"]?.stringValue) : nil)
        {
            return refuse(-32020, mismatch)
        }
        let version = meta?[Self.metaVersion]?.stringValue ?? ""
        guard Self.statelessVersions.contains(version) else {
            let body = Self.unsupportedVersion(id: id, requested: version)
            return Reply(status: 400, body: body)
        }
        let capabilities = meta?[Self.metaCapabilities] ?? [:]
        let logLevel = meta?[Self.metaLogLevel]?.stringValue
        if let logLevel, !CallRun.levels.contains(logLevel) {
            return refuse(-32602, "unknown log level '\(logLevel)'; one of \(CallRun.levels.joined(separator: ", "))")
        }
        switch method {
        case "server/discover":
            let body = Self.response(id: id, .result(discover()), stateless: true)
            return Reply(status: 200, body: body)
        case "subscriptions/listen":
            return await listen(id: id, params: params)
        case "initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe":
            return refuse(-32601, "'\(method)' does not exist in revision \(version)")
        case "tools/list", "tools/call", "prompts/list", "prompts/get", "resources/list", "resources/templates/list",
            "resources/read", "completion/complete":
            break
        default:
            return refuse(-32601, "method '\(method)' is not supported by the hotswap gateway")
        }

        let exchange = CallExchange(requestID: id, params: params)
        // A retry of a request that was answered `input_required`: the answers go to the servers that asked,
        // and the run goes on where it was, answering on this exchange.
        if let state = params?["requestState"]?.stringValue {
            guard ["tools/call", "prompts/get", "resources/read"].contains(method),
                let run = stateless.withLock({ $0[state] })
            else {
                return refuse(-32602, "unknown or expired requestState; send the request again without it")
            }
            let responses = params?["inputResponses"]?.objectValue ?? [:]
            for (ask, response) in run.resume(with: exchange, responses: responses) {
                answerAsk(ask, .result(response))
            }
            return await answer(exchange, began: began, status: Self.statelessStatus)
        }
        let run = CallRun(
            endpoint: self, era: .stateless(capabilities: capabilities, logLevel: logLevel), method: method,
            params: params, first: exchange)
        // Findable by its retries from the start; the run's end takes it out.
        stateless.withLock { $0[run.token] = run }
        let cacheable = Self.cacheable.contains(method)
        guard
            start(
                run, method: method, params: Self.withoutEnvelope(params),
                cleanup: {}, decorate: cacheable)
        else {
            stateless.withLock { _ = $0.removeValue(forKey: run.token) }
            return refuse(-32000, "the hotswap gateway is shutting down")
        }
        return await answer(exchange, began: began, status: Self.statelessStatus)
    }

    /// Results a client may cache: they carry `ttlMs` and `cacheScope`. Nothing is fresh for long behind a
    /// hot-reloading gateway (0: revalidate; `subscriptions/listen` says when lists change), and nothing is
    /// shared across users (`private`: backends may answer per credential).
    static let cacheable: Set<String> = [
        "tools/list", "prompts/list", "resources/list", "resources/templates/list", "resources/read",
    ]

    static func cacheHints(_ outcome: RPCOutcome) -> RPCOutcome {
        guard case .result(let value) = outcome, var object = value.objectValue else { return outcome }
        if object["ttlMs"] == nil { object["ttlMs"] = 0 }
        if object["cacheScope"] == nil { object["cacheScope"] = "private" }
        return .result(.object(object))
    }

    /// The client's envelope stays with the gateway: backends get the gateway's own protocol, and a progress
    /// token it maps.
    static func withoutEnvelope(_ params: JSONValue?) -> JSONValue? {
        guard var object = params?.objectValue, var meta = object["_meta"]?.objectValue else { return params }
        for key in meta.keys where key.hasPrefix("io.modelcontextprotocol/") { meta[key] = nil }
        object["_meta"] = meta.isEmpty ? nil : .object(meta)
        return .object(object)
    }

    /// `server/discover`: the gateway's revisions, capabilities and identity.
    func discover() -> JSONValue {
        [
            "supportedVersions": .array(Self.allVersions.map { .string($0) }),
            "capabilities": capabilities(),
            "instructions": "Tools and prompts of every server in the gateway's catalog, named <server>__<name>.",
            "ttlMs": 0, "cacheScope": "private",
            "_meta": [Self.metaServerInfo: ["name": "hotswap", "version": "0.1.0"]],
        ]
    }

    // MARK: Headers

    /// Why the routing headers do not match the body (-32020), or nil when they do: `Mcp-Method` always,
    /// `MCP-Protocol-Version` against `_meta`, `Mcp-Name` for the requests that name something, and
    /// `Mcp-Param-*` for every tool argument its schema marks `x-mcp-header`.
    static func headerMismatch(
        method: String, params: JSONValue?, protocolVersion: String?, headers: [String: String], tool: JSONValue?
    ) -> String? {
        guard let header = headers["mcp-method"] else { return "the Mcp-Method header is missing" }
        guard header == method else {
            return "Mcp-Method header value '\(header)' does not match body value '\(method)'"
        }
        let version = params?["_meta"]?[metaVersion]?.stringValue ?? ""
        guard let protocolVersion else { return "the MCP-Protocol-Version header is missing" }
        guard protocolVersion == version else {
            return "MCP-Protocol-Version header value '\(protocolVersion)' does not match _meta value '\(version)'"
        }
        let named: String? =
            switch method {
            case "tools/call", "prompts/get": params?["name"]?.stringValue
            case "resources/read": params?["uri"]?.stringValue
            default: nil
            }
        if let named {
            guard let raw = headers["mcp-name"] else { return "the Mcp-Name header is missing" }
            guard let value = decodeHeader(raw) else { return "the Mcp-Name header is not valid" }
            guard value == named else { return "Mcp-Name header value '\(value)' does not match body value '\(named)'" }
        }
        guard let tool, let arguments = params?["arguments"] else { return nil }
        for (name, path) in headerParameters(tool["inputSchema"]) {
            var value: JSONValue? = arguments
            for key in path { value = value?[key] }
            guard let value, value != .null else { continue }
            guard let raw = headers["mcp-param-" + name.lowercased()] else {
                return "the Mcp-Param-\(name) header is missing for argument '\(path.joined(separator: "."))'"
            }
            guard let decoded = decodeHeader(raw), headerValue(decoded, matches: value) else {
                return "Mcp-Param-\(name) header value does not match the argument '\(path.joined(separator: "."))'"
            }
        }
        return nil
    }

    /// The `x-mcp-header` names of a tool's input schema, with the property path each stands for (reached only
    /// through `properties`).
    static func headerParameters(_ schema: JSONValue?) -> [(String, [String])] {
        var found: [(String, [String])] = []
        func walk(_ node: JSONValue?, _ path: [String]) {
            guard let properties = node?["properties"]?.objectValue else { return }
            for (key, property) in properties.sorted(by: { $0.key < $1.key }) {
                if let name = property["x-mcp-header"]?.stringValue, !name.isEmpty {
                    found.append((name, path + [key]))
                }
                walk(property, path + [key])
            }
        }
        walk(schema, [])
        return found
    }

    /// A header value as sent: plain, or `=?base64?...?=` for anything that is not plain visible ASCII.
    static func decodeHeader(_ raw: String) -> String? {
        guard raw.hasPrefix("=?base64?"), raw.hasSuffix("?="), raw.count >= 11 else { return raw }
        let encoded = String(raw.dropFirst(9).dropLast(2))
        guard let data = Data(base64Encoded: encoded) else { return nil }
        return String(data: data, encoding: .utf8)
    }

    static func headerValue(_ text: String, matches value: JSONValue) -> Bool {
        switch value {
        case .string(let s): return text == s
        case .bool(let b): return text == (b ? "true" : "false")
        case .int(let i): return Double(text) == Double(i)
        case .double(let d): return Double(text) == d
        default: return false
        }
    }

    /// A tool of the live catalog by its gateway name, for its schema.
    func tool(named name: String?) -> JSONValue? {
        guard let name, let (serverID, tool) = Self.split(name),
            let backend = registry.live?.backend(serverID)
        else { return nil }
        return backend.tools?.first { $0["name"]?.stringValue == tool }
    }

    // MARK: subscriptions/listen

    /// `subscriptions/listen`: an event stream acknowledging what will be sent (the list changes the gateway
    /// announces, and resource URIs a live server can be subscribed to), then those notifications until the
    /// client closes it.
    func listen(id: JSONValue, params: JSONValue?) async -> Reply {
        let wanted = params?["notifications"] ?? [:]
        var honored: [String: JSONValue] = [:]
        var kinds = Set<ListKind>()
        for (key, kind) in [
            ("toolsListChanged", ListKind.tools), ("promptsListChanged", .prompts),
            ("resourcesListChanged", .resources),
        ] where wanted[key] == true {
            honored[key] = true
            kinds.insert(kind)
        }
        var owned: [(uri: String, owner: String)] = []
        if let asked = wanted["resourceSubscriptions"]?.arrayValue, !asked.isEmpty {
            let router = router(await liveOfferings())
            for uri in asked.compactMap(\.stringValue) {
                guard let owner = router.owner(of: uri),
                    registry.live?.backend(owner)?.offerings?.offersSubscriptions == true
                else { continue }
                owned.append((uri, owner))
            }
            honored["resourceSubscriptions"] = .array(owned.map { .string($0.uri) })
        }
        guard let (streamID, session, stream) = streams.openListen(subscription: id, kinds: kinds) else {
            let body = Self.error(id: id, code: -32000, message: "the gateway is shutting down")
            return Reply(status: 503, body: body)
        }
        for (uri, owner) in owned {
            let first = !streams.hasSubscribers(uri)
            streams.subscribe(session: session, uri: uri)
            if first, let backend = registry.lease(owner) {
                _ = try? await backend.call(method: "resources/subscribe", params: ["uri": .string(uri)])
                backend.release()
            }
        }
        let ack: JSONValue = [
            "jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
            "params": ["notifications": .object(honored), "_meta": [Self.metaSubscription: id]],
        ]
        return Reply(status: 200, listen: ListenStream(id: streamID, session: session, first: ack, messages: stream))
    }
}

/// An open `subscriptions/listen` stream: its acknowledgement, then its notifications.
public struct ListenStream: Sendable {
    public var id: UUID
    /// The stream's own name for its resource subscriptions.
    public var session: String
    public var first: JSONValue
    public var messages: AsyncStream<JSONValue>
}
