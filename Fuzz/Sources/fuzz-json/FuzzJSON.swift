// libFuzzer target: the JSON parser (JSONValue.parse) and its round trip through `serialized`.
//
// Properties, each a crash when broken:
// - parsing never traps, whatever the bytes;
// - with `rejectDuplicateKeys` a text parses to the same value as without, or is refused;
// - a smaller `maxDepth` never accepts what the default refuses;
// - what parses serializes to text that parses again to the same value (numbers compared by value,
//   a non-finite double as the `null` it is written as), and that text is a fixed point of serializing.

import HotswapCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let lenient = try? JSONValue.parse(bytes)
    if let strict = try? JSONValue.parse(bytes, rejectDuplicateKeys: true) {
        guard let lenient, lenient == strict else {
            fatalError("rejectDuplicateKeys accepted a text the default parse did not read the same way")
        }
    }
    if (try? JSONValue.parse(bytes, maxDepth: 3)) != nil, lenient == nil {
        fatalError("maxDepth 3 accepted a text the default (128) refused")
    }
    guard let value = lenient else { return 0 }
    let text = value.serialized
    let again: JSONValue
    do {
        again = try JSONValue.parse(text)
    } catch {
        fatalError("the serialized value does not parse: \(error); text: \(String(decoding: text, as: UTF8.self))")
    }
    guard sameValue(value, again) else {
        fatalError("the round trip changed the value: \(value) became \(again)")
    }
    let textAgain = again.serialized
    guard textAgain == text else {
        fatalError(
            "serializing is not a fixed point: \(hex(text)) became \(hex(textAgain)) "
                + "(\(String(decoding: text, as: UTF8.self)) became \(String(decoding: textAgain, as: UTF8.self)))")
    }
    return 0
}

/// Equality as JSON means it: an integral double equals the integer it is printed as, and a non-finite double
/// (a number too large for a double) equals the `null` it is written as.
func sameValue(_ a: JSONValue, _ b: JSONValue) -> Bool {
    switch (a, b) {
    case (.int(let x), .int(let y)): return x == y
    case (.int(let x), .double(let y)), (.double(let y), .int(let x)): return Double(x) == y
    case (.double(let x), .double(let y)): return x == y
    case (.double(let x), .null), (.null, .double(let x)): return !x.isFinite
    case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { sameValue($0, $1) }
    case (.object(let x), .object(let y)):
        return x.count == y.count && x.allSatisfy { key, v in y[key].map { sameValue(v, $0) } ?? false }
    default: return a == b
    }
}

func hex(_ bytes: [UInt8]) -> String { bytes.map { String($0, radix: 16) }.joined(separator: " ") }
