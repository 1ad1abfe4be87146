/// `Codable` through `JSONValue`: the one JSON stack. Typed values (the control API's reports, token headers and
/// claims) are encoded to a `JSONValue` and written by its printer, and decoded from a `JSONValue` its strict
/// parser made, so every JSON byte the project reads goes through one fuzzed parser.
extension JSONValue {
    /// Encodes a value to JSON bytes (keys sorted by bytes, no whitespace).
    public static func encode(_ value: some Encodable) throws -> [UInt8] {
        try JSONValue(encoding: value).serialized
    }

    /// Decodes a value from JSON bytes with the strict parser.
    public static func decode<T: Decodable>(
        _ type: T.Type, from bytes: some Collection<UInt8>, rejectDuplicateKeys: Bool = false
    ) throws -> T {
        try JSONValue.parse(bytes, rejectDuplicateKeys: rejectDuplicateKeys).decode(type)
    }

    /// The JSON value of an `Encodable`.
    public init(encoding value: some Encodable) throws {
        let encoder = ValueEncoder(codingPath: [])
        try value.encode(to: encoder)
        self = encoder.result ?? .object([:])
    }

    /// This value as a `Decodable`.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try T(from: ValueDecoder(value: self, codingPath: []))
    }
}

extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        if let direct = decoder as? ValueDecoder {
            self = direct.value
            return
        }
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int64.self) {
            self = .int(i)
        } else if let d = try? c.decode(Double.self) {
            self = .double(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        if let direct = encoder as? ValueEncoder {
            direct.node.value = self
            return
        }
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}

// MARK: Encoding

/// A node being built: a leaf, or an array or object whose children are still being encoded.
private final class EncodedNode {
    var value: JSONValue?
    var array: [EncodedNode]?
    var object: [(String, EncodedNode)]?

    var resolved: JSONValue? {
        if let array { return .array(array.compactMap(\.resolved)) }
        if let object {
            var o: [String: JSONValue] = [:]
            for (k, n) in object { if let v = n.resolved { o[k] = v } }
            return .object(o)
        }
        return value
    }
}

private struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) {
        self.stringValue = "\(intValue)"
        self.intValue = intValue
    }
}

private final class ValueEncoder: Encoder {
    let node: EncodedNode
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(codingPath: [any CodingKey], node: EncodedNode = EncodedNode()) {
        self.codingPath = codingPath
        self.node = node
    }

    /// The finished value (read once encoding returns).
    var result: JSONValue? { node.resolved }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if node.object == nil { node.object = [] }
        return KeyedEncodingContainer(KeyedEncoder<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if node.array == nil { node.array = [] }
        return UnkeyedEncoder(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleEncoder(node: node, codingPath: codingPath)
    }

    static func encode(_ value: some Encodable, into node: EncodedNode, path: [any CodingKey]) throws {
        try value.encode(to: ValueEncoder(codingPath: path, node: node))
    }
}

private struct KeyedEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: EncodedNode
    let codingPath: [any CodingKey]

    private func child(_ key: Key) -> EncodedNode {
        let n = EncodedNode()
        node.object!.removeAll { $0.0 == key.stringValue }
        node.object!.append((key.stringValue, n))
        return n
    }

    mutating func encodeNil(forKey key: Key) throws { child(key).value = .null }
    mutating func encode(_ value: some Encodable, forKey key: Key) throws {
        try ValueEncoder.encode(value, into: child(key), path: codingPath + [key])
    }
    mutating func nestedContainer<N: CodingKey>(keyedBy: N.Type, forKey key: Key) -> KeyedEncodingContainer<N> {
        let n = child(key)
        n.object = []
        return KeyedEncodingContainer(KeyedEncoder<N>(node: n, codingPath: codingPath + [key]))
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let n = child(key)
        n.array = []
        return UnkeyedEncoder(node: n, codingPath: codingPath + [key])
    }
    mutating func superEncoder() -> any Encoder {
        ValueEncoder(codingPath: codingPath, node: child(Key(stringValue: "super")!))
    }
    mutating func superEncoder(forKey key: Key) -> any Encoder {
        ValueEncoder(codingPath: codingPath + [key], node: child(key))
    }
}

private struct UnkeyedEncoder: UnkeyedEncodingContainer {
    let node: EncodedNode
    let codingPath: [any CodingKey]
    var count: Int { node.array!.count }

    private func next() -> EncodedNode {
        let n = EncodedNode()
        node.array!.append(n)
        return n
    }

    mutating func encodeNil() throws { next().value = .null }
    mutating func encode(_ value: some Encodable) throws {
        try ValueEncoder.encode(value, into: next(), path: codingPath + [AnyKey(intValue: count)])
    }
    mutating func nestedContainer<N: CodingKey>(keyedBy: N.Type) -> KeyedEncodingContainer<N> {
        let n = next()
        n.object = []
        return KeyedEncodingContainer(KeyedEncoder<N>(node: n, codingPath: codingPath))
    }
    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let n = next()
        n.array = []
        return UnkeyedEncoder(node: n, codingPath: codingPath)
    }
    mutating func superEncoder() -> any Encoder { ValueEncoder(codingPath: codingPath, node: next()) }
}

private struct SingleEncoder: SingleValueEncodingContainer {
    let node: EncodedNode
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { node.value = .null }
    mutating func encode(_ value: Bool) throws { node.value = .bool(value) }
    mutating func encode(_ value: String) throws { node.value = .string(value) }
    mutating func encode(_ value: Double) throws { node.value = .double(value) }
    mutating func encode(_ value: Float) throws { node.value = .double(Double(value)) }
    mutating func encode(_ value: Int) throws { node.value = .int(Int64(value)) }
    mutating func encode(_ value: Int8) throws { node.value = .int(Int64(value)) }
    mutating func encode(_ value: Int16) throws { node.value = .int(Int64(value)) }
    mutating func encode(_ value: Int32) throws { node.value = .int(Int64(value)) }
    mutating func encode(_ value: Int64) throws { node.value = .int(value) }
    mutating func encode(_ value: UInt) throws { try encodeUnsigned(UInt64(value)) }
    mutating func encode(_ value: UInt8) throws { node.value = .int(Int64(value)) }
    mutating func encode(_ value: UInt16) throws { node.value = .int(Int64(value)) }
    mutating func encode(_ value: UInt32) throws { node.value = .int(Int64(value)) }
    mutating func encode(_ value: UInt64) throws { try encodeUnsigned(value) }
    mutating func encode(_ value: some Encodable) throws {
        try ValueEncoder.encode(value, into: node, path: codingPath)
    }

    private func encodeUnsigned(_ value: UInt64) throws {
        guard let v = Int64(exactly: value) else {
            throw EncodingError.invalidValue(
                value, .init(codingPath: codingPath, debugDescription: "\(value) does not fit a JSON integer here"))
        }
        node.value = .int(v)
    }
}

// MARK: Decoding

private struct ValueDecoder: Decoder {
    let value: JSONValue
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let o) = value else { throw mismatch("an object", value, codingPath) }
        return KeyedDecodingContainer(KeyedDecoder<Key>(object: o, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let a) = value else { throw mismatch("an array", value, codingPath) }
        return UnkeyedDecoder(array: a, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleDecoder(value: value, codingPath: codingPath)
    }
}

private func mismatch(_ expected: String, _ value: JSONValue, _ path: [any CodingKey]) -> DecodingError {
    let found: String
    switch value {
    case .null: found = "null"
    case .bool: found = "a boolean"
    case .int, .double: found = "a number"
    case .string: found = "a string"
    case .array: found = "an array"
    case .object: found = "an object"
    }
    return DecodingError.typeMismatch(
        Any.self, .init(codingPath: path, debugDescription: "expected \(expected), found \(found)"))
}

private struct KeyedDecoder<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let object: [String: JSONValue]
    let codingPath: [any CodingKey]
    var allKeys: [Key] { object.keys.compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool { object[key.stringValue] != nil }

    private func value(_ key: Key) throws -> JSONValue {
        guard let v = object[key.stringValue] else {
            throw DecodingError.keyNotFound(
                key, .init(codingPath: codingPath, debugDescription: "no value for `\(key.stringValue)`"))
        }
        return v
    }

    func decodeNil(forKey key: Key) throws -> Bool { try value(key) == .null }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try T(from: ValueDecoder(value: try value(key), codingPath: codingPath + [key]))
    }
    func nestedContainer<N: CodingKey>(keyedBy type: N.Type, forKey key: Key) throws -> KeyedDecodingContainer<N> {
        try ValueDecoder(value: try value(key), codingPath: codingPath + [key]).container(keyedBy: type)
    }
    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try ValueDecoder(value: try value(key), codingPath: codingPath + [key]).unkeyedContainer()
    }
    func superDecoder() throws -> any Decoder { ValueDecoder(value: .object(object), codingPath: codingPath) }
    func superDecoder(forKey key: Key) throws -> any Decoder {
        ValueDecoder(value: try value(key), codingPath: codingPath + [key])
    }
}

private struct UnkeyedDecoder: UnkeyedDecodingContainer {
    let array: [JSONValue]
    let codingPath: [any CodingKey]
    var currentIndex = 0
    var count: Int? { array.count }
    var isAtEnd: Bool { currentIndex >= array.count }

    private mutating func next() throws -> ValueDecoder {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(
                Any.self, .init(codingPath: codingPath, debugDescription: "the array has no more elements"))
        }
        defer { currentIndex += 1 }
        return ValueDecoder(value: array[currentIndex], codingPath: codingPath + [AnyKey(intValue: currentIndex)])
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, array[currentIndex] == .null else { return false }
        currentIndex += 1
        return true
    }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try T(from: try next()) }
    mutating func nestedContainer<N: CodingKey>(keyedBy type: N.Type) throws -> KeyedDecodingContainer<N> {
        try next().container(keyedBy: type)
    }
    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try next().unkeyedContainer() }
    mutating func superDecoder() throws -> any Decoder { try next() }
}

private struct SingleDecoder: SingleValueDecodingContainer {
    let value: JSONValue
    let codingPath: [any CodingKey]

    func decodeNil() -> Bool { value == .null }
    func decode(_ type: Bool.Type) throws -> Bool {
        guard case .bool(let b) = value else { throw mismatch("a boolean", value, codingPath) }
        return b
    }
    func decode(_ type: String.Type) throws -> String {
        guard case .string(let s) = value else { throw mismatch("a string", value, codingPath) }
        return s
    }
    func decode(_ type: Double.Type) throws -> Double {
        guard let d = value.doubleValue else { throw mismatch("a number", value, codingPath) }
        return d
    }
    func decode(_ type: Float.Type) throws -> Float { Float(try decode(Double.self)) }
    func decode<T: BinaryInteger & FixedWidthInteger>(integer: T.Type) throws -> T {
        guard let i = value.intValue, let v = T(exactly: i) else {
            throw mismatch("an integer that fits \(T.self)", value, codingPath)
        }
        return v
    }
    func decode(_ type: Int.Type) throws -> Int { try decode(integer: Int.self) }
    func decode(_ type: Int8.Type) throws -> Int8 { try decode(integer: Int8.self) }
    func decode(_ type: Int16.Type) throws -> Int16 { try decode(integer: Int16.self) }
    func decode(_ type: Int32.Type) throws -> Int32 { try decode(integer: Int32.self) }
    func decode(_ type: Int64.Type) throws -> Int64 { try decode(integer: Int64.self) }
    func decode(_ type: UInt.Type) throws -> UInt { try decode(integer: UInt.self) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decode(integer: UInt8.self) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decode(integer: UInt16.self) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decode(integer: UInt32.self) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decode(integer: UInt64.self) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try T(from: ValueDecoder(value: value, codingPath: codingPath))
    }
}

// MARK: Pretty printing

extension JSONValue {
    /// Indented with two spaces, keys sorted by bytes: for people (`hotswap stats`, `--json` output).
    public var pretty: String {
        var out: [UInt8] = []
        writePretty(into: &out, indent: 0)
        return String(decoding: out, as: UTF8.self)
    }

    private func writePretty(into out: inout [UInt8], indent: Int) {
        let pad = { (n: Int) in [UInt8](repeating: UInt8(ascii: " "), count: n * 2) }
        switch self {
        case .array(let a) where !a.isEmpty:
            out += Array("[\n".utf8)
            for (i, v) in a.enumerated() {
                out += pad(indent + 1)
                v.writePretty(into: &out, indent: indent + 1)
                out += Array((i < a.count - 1 ? ",\n" : "\n").utf8)
            }
            out += pad(indent) + [UInt8(ascii: "]")]
        case .object(let o) where !o.isEmpty:
            out += Array("{\n".utf8)
            let keys = o.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) })
            for (i, key) in keys.enumerated() {
                out += pad(indent + 1)
                Self.writeString(key, into: &out)
                out += Array(": ".utf8)
                o[key]!.writePretty(into: &out, indent: indent + 1)
                out += Array((i < keys.count - 1 ? ",\n" : "\n").utf8)
            }
            out += pad(indent) + [UInt8(ascii: "}")]
        default:
            write(into: &out)
        }
    }
}
