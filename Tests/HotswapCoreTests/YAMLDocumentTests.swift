import HotswapCore
import Testing

@Suite("YAML documents")
struct YAMLDocumentTests {
    private func parse(_ text: String, limits: YAMLLimits = .default) throws -> YAMLNode? {
        try YAMLDocument.parse(Array(text.utf8), limits: limits)
    }

    @Test("every node keeps its line and column")
    func marks() throws {
        let root = try #require(try parse("a: 1\nb:\n  - x\n  - {c: d}\n"))
        guard case .mapping(let pairs) = root.content else { Issue.record("not a mapping"); return }
        #expect(pairs[0].key.mark == SourceMark(line: 1, column: 1))
        #expect(pairs[0].value.mark == SourceMark(line: 1, column: 4))
        guard case .sequence(let items) = pairs[1].value.content else { Issue.record("not a list"); return }
        #expect(items[0].mark == SourceMark(line: 3, column: 5))
        #expect(items[1].mark == SourceMark(line: 4, column: 5))
    }

    @Test("scalars resolve by the YAML 1.2 core schema; quoted ones stay strings")
    func resolution() throws {
        let root = try #require(try parse("[1, '1', true, yes, ~, 1.5, 0x10, \"null\"]"))
        guard case .sequence(let items) = root.content else { Issue.record("not a list"); return }
        let resolved = items.map { $0.scalar?.resolved }
        #expect(
            resolved == [
                .int(1), .string("1"), .bool(true), .string("yes"), .null, .float(1.5), .int(16), .string("null"),
            ])
    }

    @Test("JSON parses with marks too")
    func json() throws {
        let root = try #require(try parse("{\n  \"mcpServers\": {\"a\": {\"command\": \"x\"}}\n}"))
        guard case .mapping(let pairs) = root.content else { Issue.record("not a mapping"); return }
        #expect(pairs[0].key.mark == SourceMark(line: 2, column: 3))
    }

    @Test("duplicate keys are errors, with both places")
    func duplicates() {
        #expect(throws: YAMLError.self) { try parse("a: 1\nb: 2\na: 3\n") }
        do {
            _ = try parse("a: 1\nb: 2\na: 3\n")
        } catch let error as YAMLError {
            #expect(error.mark == SourceMark(line: 3, column: 1))
            #expect(error.message.contains("line 1"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("<< merge keys apply, explicit keys win")
    func merge() throws {
        let root = try #require(try parse("base: &b {x: 1, y: 2}\nthing:\n  <<: *b\n  y: 3\n"))
        guard case .mapping(let pairs) = root.content, case .mapping(let thing) = pairs[1].value.content else {
            Issue.record("shape")
            return
        }
        let values = Dictionary(uniqueKeysWithValues: thing.map { ($0.key.scalar!.text, $0.value.scalar!.text) })
        #expect(values == ["x": "1", "y": "3"])
    }

    @Test("an alias bomb is refused quickly")
    func aliasBomb() {
        var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1...20 {
            text += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        let clock = ContinuousClock()
        var caught: YAMLError?
        let elapsed = clock.measure {
            do { _ = try parse(text) } catch let e as YAMLError { caught = e } catch {}
        }
        #expect(caught?.message.contains("more than") == true)
        // Generous bound: 10^20 nodes would never finish; refusing takes microseconds.
        #expect(elapsed < .seconds(2))
    }

    @Test("deep nesting is refused at the limit")
    func deepNesting() {
        let text = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect {
            try parse(text)
        } throws: { error in
            (error as? YAMLError)?.message.contains("nesting") == true
        }
    }

    @Test("a file over the size limit is refused before parsing")
    func tooLarge() {
        let text = "a: " + String(repeating: "x", count: 5 << 20)
        #expect {
            try parse(text)
        } throws: { error in
            (error as? YAMLError)?.message.contains("over the limit") == true
        }
    }

    @Test("a string over the length limit is refused")
    func longString() {
        var limits = YAMLLimits()
        limits.maxScalarBytes = 1000
        #expect(throws: YAMLError.self) { try parse("a: " + String(repeating: "x", count: 2000), limits: limits) }
    }

    @Test("binary garbage is an error, not a crash")
    func garbage() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            let bytes = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(throws: YAMLError.self) { try YAMLDocument.parse(bytes) }
        }
        #expect(throws: YAMLError.self) { try YAMLDocument.parse([0xFF, 0xFE, 0x00, 0x41, 0x00]) }
    }

    @Test("an empty stream has no document")
    func empty() throws {
        let none = try parse("")
        let commentOnly = try parse("# comment\n")
        #expect(none == nil)
        #expect(commentOnly == nil)
    }

    /// Issue 8, item 14: duplicate detection scanned the mapping for every key, so a catalog within every
    /// documented limit (a 100,000-key env block) took minutes. Linear now: this takes well under a second in a
    /// release build; the bound here only separates linear from quadratic on a loaded debug build.
    @Test("a mapping of 100,000 keys is checked for duplicates in linear time")
    func largeMappingIsLinear() throws {
        var text = "version: 1\nservers:\n  - id: big\n    runtime:\n      type: local-process\n      command: x\n"
        text += "      env:\n"
        for i in 0..<100_000 { text += "        K\(i): v\n" }
        let start = ContinuousClock.now
        let root = try #require(try parse(text))
        let elapsed = ContinuousClock.now - start
        #expect(elapsed < .seconds(30), "took \(elapsed)")
        guard case .mapping(let top) = root.content, case .sequence(let servers) = top[1].value.content,
            case .mapping(let server) = servers[0].content, case .mapping(let runtime) = server[1].value.content,
            case .mapping(let env) = runtime[2].value.content
        else {
            Issue.record("unexpected shape")
            return
        }
        #expect(env.count == 100_000)
        // The last key repeated is still found, with the first place.
        #expect(throws: YAMLError.self) { try parse(text + "        K0: again\n") }
    }
}
