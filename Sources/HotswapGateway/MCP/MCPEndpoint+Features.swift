import HotswapCore
import Logging

/// Prompts, resources, completion and logging of every live server, merged and routed like tools.
extension MCPEndpoint {
    // MARK: Lists

    /// Every started server's offerings, in catalog order, after waiting (at most `listWait`) for servers that
    /// have never started, as `tools/list` does.
    func liveOfferings() async -> [(backend: Backend, offerings: Offerings)] {
        guard let generation = registry.live else { return [] }
        let starting = generation.backends.filter { $0.offerings == nil }
        if !starting.isEmpty { await waitForStarts(starting, within: Self.listWait) }
        return generation.backends.compactMap { b in b.offerings.map { (b, $0) } }
    }

    /// `prompts/list`: every server's prompts, named `<server>__<prompt>`.
    func listPrompts() async -> JSONValue {
        var prompts: [JSONValue] = []
        for (backend, offerings) in await liveOfferings() {
            for prompt in offerings.prompts {
                guard var object = prompt.objectValue, let name = object["name"]?.stringValue else { continue }
                object["name"] = .string(backend.id + Self.separator + name)
                prompts.append(.object(object))
            }
        }
        return ["prompts": .array(prompts)]
    }

    /// `resources/list`: every server's resources with their URIs as they are; a URI two servers list is the
    /// first one's (catalog order), and the conflict is logged once.
    func listResources() async -> JSONValue {
        let live = await liveOfferings()
        let router = router(live)
        var resources: [JSONValue] = []
        for (backend, offerings) in live {
            for resource in offerings.resources {
                guard let uri = resource["uri"]?.stringValue, router.owner(of: uri) == backend.id else { continue }
                resources.append(resource)
            }
        }
        return ["resources": .array(resources)]
    }

    /// `resources/templates/list`: every server's templates; the same template twice is listed once.
    func listResourceTemplates() async -> JSONValue {
        var seen = Set<String>()
        var templates: [JSONValue] = []
        for (_, offerings) in await liveOfferings() {
            for template in offerings.resourceTemplates {
                guard let text = template["uriTemplate"]?.stringValue, seen.insert(text).inserted else { continue }
                templates.append(template)
            }
        }
        return ["resourceTemplates": .array(templates)]
    }

    func router(_ live: [(backend: Backend, offerings: Offerings)]) -> ResourceRouter {
        let router = ResourceRouter(
            live.map { ($0.backend.id, $0.offerings.resources, $0.offerings.resourceTemplates) })
        for conflict in router.conflicts where reportedConflicts.withLock({ $0.insert(conflict.uri).inserted }) {
            logger.warning(
                "two servers list the same resource URI: the first in catalog order serves it",
                metadata: [
                    "resource.uri": "\(conflict.uri)", "server.id": "\(conflict.owner)",
                    "server.ignored": "\(conflict.ignored)",
                ])
        }
        return router
    }

    // MARK: Routed requests

    /// `prompts/get`, by the `<server>__` prefix of its name.
    func getPrompt(_ params: JSONValue?, _ run: CallRun) async -> RPCOutcome {
        guard var object = params?.objectValue, let name = object["name"]?.stringValue else {
            return .error(["code": -32602, "message": "prompts/get needs params.name"])
        }
        guard let (serverID, prompt) = Self.split(name) else {
            return .error([
                "code": -32602, "message": "unknown prompt '\(name)': gateway prompts are named <server>__<prompt>",
            ])
        }
        object["name"] = .string(prompt)
        return await forward("prompts/get", params: .object(object), to: serverID, capability: "prompts", run)
    }

    /// `resources/read`, `resources/subscribe`, `resources/unsubscribe`: to the server owning the URI.
    func resourceRequest(_ method: String, _ params: JSONValue?, _ run: CallRun) async -> RPCOutcome {
        guard let uri = params?["uri"]?.stringValue else {
            return .error(["code": -32602, "message": "\(method) needs params.uri"])
        }
        guard let owner = router(await liveOfferings()).owner(of: uri) else {
            return .error([
                "code": -32002, "message": "resource not found: no server of the live catalog lists '\(uri)'",
                "data": ["uri": .string(uri)],
            ])
        }
        switch method {
        case "resources/subscribe":
            guard registry.live?.backend(owner)?.offerings?.offersSubscriptions == true else {
                return .error([
                    "code": -32601, "message": "server '\(owner)' does not offer subscriptions to its resources",
                ])
            }
            let outcome = await forward(method, params: params, to: owner, capability: "resources", run)
            if case .result = outcome, case .session(let session) = run.era {
                streams.subscribe(session: session, uri: uri)
            }
            return outcome
        case "resources/unsubscribe":
            if case .session(let session) = run.era { streams.unsubscribe(session: session, uri: uri) }
            // The server stays subscribed while another session still is.
            if streams.hasSubscribers(uri) { return .result([:]) }
            return await forward(method, params: params, to: owner, capability: "resources", run)
        default:
            return await forward(method, params: params, to: owner, capability: "resources", run)
        }
    }

    /// `completion/complete`, by its `ref`: a prompt by its prefixed name, a resource template by its URI.
    func complete(_ params: JSONValue?, _ run: CallRun) async -> RPCOutcome {
        guard var object = params?.objectValue, var ref = object["ref"]?.objectValue else {
            return .error(["code": -32602, "message": "completion/complete needs params.ref"])
        }
        switch ref["type"]?.stringValue {
        case "ref/prompt":
            guard let name = ref["name"]?.stringValue, let (serverID, prompt) = Self.split(name) else {
                return .error([
                    "code": -32602,
                    "message": "completion/complete: unknown prompt; prompts are named <server>__<prompt>",
                ])
            }
            ref["name"] = .string(prompt)
            object["ref"] = .object(ref)
            return await forward(
                "completion/complete", params: .object(object), to: serverID, capability: "completions", run)
        case "ref/resource":
            guard let uri = ref["uri"]?.stringValue, let owner = router(await liveOfferings()).owner(of: uri) else {
                return .error(["code": -32602, "message": "completion/complete: no server offers that resource"])
            }
            return await forward("completion/complete", params: params, to: owner, capability: "completions", run)
        default:
            return .error(["code": -32602, "message": "completion/complete: ref.type is ref/prompt or ref/resource"])
        }
    }

    /// `logging/setLevel`: sent to every running server that offers logging. Backends are shared by every
    /// session, so the last level set is the one they log at.
    func setLogLevel(_ params: JSONValue?) async -> RPCOutcome {
        guard let level = params?["level"]?.stringValue, CallRun.levels.contains(level) else {
            return .error([
                "code": -32602,
                "message": .string(
                    "logging/setLevel needs params.level, one of \(CallRun.levels.joined(separator: ", "))"),
            ])
        }
        for (backend, offerings) in await liveOfferings() where offerings.offers("logging") {
            guard backend.acquire() else { continue }
            defer { backend.release() }
            await backend.setLogLevel(params)
        }
        return .result([:])
    }

    /// Sends a request to one server of the live catalog with a lease, and answers with what it answered, or a
    /// clear error when the server is not there, does not offer `capability`, or fails.
    func forward(
        _ method: String, params: JSONValue?, to serverID: String, capability: String, _ run: CallRun
    ) async -> RPCOutcome {
        guard let backend = registry.lease(serverID) else {
            let generation = registry.live?.number ?? 0
            return .error([
                "code": -32602,
                "message": "\(method): server '\(serverID)' is not in the live catalog (generation \(generation))",
            ])
        }
        defer { backend.release() }
        if let offerings = backend.offerings, !offerings.offers(capability) {
            return .error(["code": -32601, "message": "server '\(serverID)' does not offer \(capability)"])
        }
        do {
            return try await backend.call(method: method, params: params, caller: run)
        } catch let error as BackendError {
            // Not -32002: for resources that code means "not found", and a server that is down is not that.
            return .error(["code": error.kind == .timeout ? -32001 : -32603, "message": .string(error.message)])
        } catch {
            return .error(["code": -32603, "message": "\(error)"])
        }
    }

    /// `<server>__<name>` into its two parts.
    static func split(_ name: String) -> (server: String, name: String)? {
        guard let range = name.range(of: separator) else { return nil }
        return (String(name[..<range.lowerBound]), String(name[range.upperBound...]))
    }

    /// What the gateway announces at `initialize`: tools always; prompts, resources, completions and logging
    /// when a live server offers them, or when a server has not started yet (its offer is not known, and
    /// `initialize` starts nothing: servers stay cold until something asks for them).
    func capabilities() -> JSONValue {
        let backends = registry.live?.backends ?? []
        let unknown = backends.contains { $0.offerings == nil && $0.phase != .failed && $0.phase != .stopped }
        let known = backends.compactMap(\.offerings)
        func any(_ capability: String) -> Bool { unknown || known.contains { $0.offers(capability) } }
        var capabilities: [String: JSONValue] = ["tools": ["listChanged": true]]
        if any("prompts") { capabilities["prompts"] = ["listChanged": true] }
        if any("resources") { capabilities["resources"] = ["subscribe": true, "listChanged": true] }
        if any("completions") { capabilities["completions"] = [:] }
        if any("logging") { capabilities["logging"] = [:] }
        return .object(capabilities)
    }
}
