import HotswapCore
import Testing

/// RFC 8259 conformance of the one JSON parser every client request, backend line and token goes through.
/// The cases follow the y_/n_/i_ split of the JSONTestSuite: must parse, must be refused, implementation-defined
/// (must not crash, whatever it answers).
@Suite struct JSONValueTests {
    /// Issue 8, item 1: an unpaired high surrogate trapped the parser (overflow at `low - 0xDC00`).
    @Test(arguments: [
        #""\uD800\u0041""#, #""\uD800""#, #""\uD800\uD800""#, #""\uDC00""#, #""\uDBFF\uFFFF""#, #""a\uD83D""#,
        #"{"k":"\uD800\u0041"}"#, #"["\uD800\n"]"#,
    ])
    func unpairedSurrogatesBecomeReplacementCharacters(text: String) throws {
        let value = try JSONValue.parse(text)
        let found = value.stringValue ?? value["k"]?.stringValue ?? value.arrayValue?.first?.stringValue
        #expect(found?.unicodeScalars.contains("\u{FFFD}") == true, "\(value)")
    }

    @Test func surrogatePairsAndTheEscapeAfterAnUnpairedOne() throws {
        #expect(try JSONValue.parse(#""\uD83D\uDE00""#) == "\u{1F600}")
        #expect(try JSONValue.parse(#""\uD800\u0041""#) == "\u{FFFD}A")
        #expect(try JSONValue.parse(#""\uDBFF\uDFFF""#) == "\u{10FFFF}")
        #expect(try JSONValue.parse(#""\u00e9\u002F""#) == "é/")
    }

    static let valid: [(String, JSONValue)] = [
        ("0", 0), ("-0", 0), ("1", 1), ("-1", -1), ("123456789", 123_456_789),
        ("9223372036854775807", .int(.max)), ("-9223372036854775808", .int(.min)),
        ("1.5", .double(1.5)), ("-0.25", .double(-0.25)), ("1e2", .double(100)), ("1E+2", .double(100)),
        ("1e-2", .double(0.01)), ("0.5e1", .double(5)), ("true", true), ("false", false), ("null", nil),
        (#""""#, ""), (#""a\"b\\c\/d\b\f\n\r\t""#, "a\"b\\c/d\u{8}\u{C}\n\r\t"), ("[]", []), ("{}", [:]),
        (" [ 1 , 2 ] ", [1, 2]), ("\t{\"a\"\n:\r[{}]}\n", ["a": [[:]]]), (#"["é€😀"]"#, ["é€😀"]),
        (#"{"a":1,"b":{"c":[null,true]}}"#, ["a": 1, "b": ["c": [nil, true]]]),
    ]

    @Test func validDocumentsParse() throws {
        for (text, expected) in Self.valid {
            #expect(try JSONValue.parse(text) == expected, "\(text)")
        }
    }

    static let invalid: [String] = [
        "", " ", "01", "-01", "00", "+1", ".5", "1.", "1.e2", "1e", "1e+", "-", "--1", "1-2", "0x10", "Infinity",
        "NaN", "-Infinity", "1 2", "[1,]", "[,1]", "[1 2]", "{\"a\":1,}", "{\"a\"}", "{\"a\" 1}", "{a:1}", "{'a':1}",
        "['a']", "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\uZZZZ\"", "\"a\u{1}b\"", "\"tab\there\"", "tru", "nul", "[",
        "{", "]", "}", "[1]]", "{\"a\":1}}", "[\"a\",", "\"\\", "1 // c", "/* c */ 1", "[1,,2]", "TRUE", "\u{FEFF}1",
    ]

    @Test func invalidDocumentsAreRefused() {
        for text in Self.invalid {
            #expect(throws: JSONParseError.self, "\(text.debugDescription)") { try JSONValue.parse(text) }
        }
    }

    @Test func implementationDefinedCasesDoNotCrash() throws {
        // Huge numbers: beyond Int64 they become doubles; beyond Double, infinity (printed as null).
        #expect(try JSONValue.parse("9223372036854775808") == .double(9_223_372_036_854_775_808))
        #expect(try JSONValue.parse("1e400").doubleValue == .infinity)
        #expect(try JSONValue.parse("-1e400").doubleValue == -.infinity)
        #expect(try JSONValue.parse("1e-400").doubleValue == 0)
        #expect(try JSONValue.parse("123456789012345678901234567890").doubleValue != nil)
        #expect(try JSONValue.parse("[1e400]").text == "[null]")
        // Invalid UTF-8 inside a string is repaired, not trusted.
        let bytes: [UInt8] = [0x22, 0xFF, 0xC3, 0x22]
        #expect(try JSONValue.parse(bytes) == "\u{FFFD}\u{FFFD}")
        // The \u0000 escape is a real NUL in the string.
        #expect(try JSONValue.parse(#""a\u0000b""#).stringValue?.utf8.count == 3)
        // Duplicate keys: the last wins, unless refused.
        #expect(try JSONValue.parse(#"{"a":1,"a":2}"#) == ["a": 2])
        #expect(throws: JSONParseError.self) {
            try JSONValue.parse(Array(#"{"a":1,"a":2}"#.utf8), rejectDuplicateKeys: true)
        }
        #expect(throws: JSONParseError.self) {
            try JSONValue.parse(Array(#"{"x":{"a":1,"\u0061":2}}"#.utf8), rejectDuplicateKeys: true)
        }
    }

    @Test func nestingIsBounded() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(deep) }
        let ok = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(try JSONValue.parse(ok).arrayValue != nil)
    }

    @Test func printedTextParsesBackToTheSameValue() throws {
        // Whole doubles print as integers, so the printed text is the fixed point compared.
        for (_, value) in Self.valid {
            #expect(try JSONValue.parse(value.serialized).serialized == value.serialized)
        }
        let controls = JSONValue.string(String(decoding: (0..<32).map { UInt8($0) }, as: UTF8.self) + "\u{7F}\"\\")
        #expect(try JSONValue.parse(controls.serialized) == controls)
    }

    /// Found by the fuzz-json target: object keys were ordered by String's `<`, which is no total order on
    /// canonically equivalent prefixes, so one value printed in different orders from run to run.
    @Test func keysAreOrderedByBytes() throws {
        let value = try JSONValue.parse(Array(#"{"e\u0301":0,"é@":2,"k\u00c30":"\u00f7"}"#.utf8))
        let once = value.serialized
        for _ in 0..<50 {
            let copy = try JSONValue.parse(once)
            #expect(copy.serialized == once)
        }
        #expect(once == Array("{\"e\u{301}\":0,\"k\u{C3}0\":\"\u{F7}\",\"é@\":2}".utf8))
    }

    /// Strings are scanned eight bytes at a time: every special byte, at every offset within and across the
    /// words, in long plain runs, must be escaped on output and decoded on input exactly as byte by byte.
    @Test func wordAtATimeScanningFindsEverySpecialByte() throws {
        let specials: [UInt8] = [0x22, 0x5C, 0x00, 0x01, 0x0A, 0x1F] + [0x20, 0x21, 0x5B, 0x5D, 0x7F, 0xC3, 0xA9]
        func reference(_ bytes: [UInt8]) -> [UInt8] {
            var out: [UInt8] = [0x22]
            for b in bytes {
                switch b {
                case 0x22: out += [0x5C, 0x22]
                case 0x5C: out += [0x5C, 0x5C]
                case 0x0A: out += [0x5C, 0x6E]
                case 0x0D: out += [0x5C, 0x72]
                case 0x09: out += [0x5C, 0x74]
                case 0..<0x20: out += Array(String(format: "\\u%04x", b).utf8)
                default: out.append(b)
                }
            }
            return out + [0x22]
        }
        for length in [1, 7, 8, 9, 15, 16, 17, 33, 200] {
            for position in 0..<length {
                for special in specials {
                    var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    bytes[position] = special
                    if special == 0xC3 { bytes[position] = 0x41 }  // keep the text valid UTF-8
                    let string = String(decoding: bytes, as: UTF8.self)
                    let printed = JSONValue.string(string).serialized
                    #expect(printed == reference(Array(string.utf8)), "length \(length) at \(position): \(special)")
                    #expect(try JSONValue.parse(printed) == .string(string))
                }
            }
        }
        // A raw control character inside a long run is refused wherever it sits.
        for position in [0, 5, 8, 13, 64] {
            var raw = [UInt8](repeating: UInt8(ascii: "b"), count: 80)
            raw[position] = 0x07
            #expect(throws: JSONParseError.self) { try JSONValue.parse([0x22] + raw + [0x22]) }
        }
        let big = String(repeating: "y", count: 5 << 20)
        #expect(try JSONValue.parse(JSONValue.string(big).serialized) == .string(big))
    }
}
