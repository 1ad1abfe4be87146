import HotswapCore
import Testing

/// The conformance suites' one check: what a client got through the gateway equals what the same client got
/// straight from the same server, key by key (`keys`: all of the direct run's, less `except`), each difference
/// reported with both values.
func expectSame(
    _ through: JSONValue, as direct: JSONValue, keys: [String]? = nil, except: Set<String> = [],
    _ label: String = "through", sourceLocation: SourceLocation = #_sourceLocation
) {
    for key in (keys ?? direct.objectValue?.keys.sorted() ?? []) where !except.contains(key) {
        #expect(
            through[key] == direct[key],
            "\(key): \(label) \(through[key] ?? .null), direct \(direct[key] ?? .null)", sourceLocation: sourceLocation)
    }
}

/// The feature client's run through the gateway against its direct run: the one intended difference is that a
/// log message names the server it came from (`loggers`), where straight from the server it names none.
func expectSameFeatures(
    _ through: JSONValue, as direct: JSONValue, server: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(through["loggers"] == [.string(server)], sourceLocation: sourceLocation)
    #expect(direct["loggers"] == [.null], sourceLocation: sourceLocation)
    expectSame(through, as: direct, except: ["loggers"], sourceLocation: sourceLocation)
}
