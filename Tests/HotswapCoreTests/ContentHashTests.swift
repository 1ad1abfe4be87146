import Foundation
import HotswapCore
import HotswapTestSupport
import Testing

@Suite("Content hashes")
struct ContentHashTests {
    @Test("a file's hash is the SHA-256 of its bytes")
    func file() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.write("catalog.yaml", "abc")
        #expect(try ContentHash.file(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test("a ConfigMap directory: resolved through ..data, dot-entries skipped, stable across re-publishing")
    func configMap() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var cm = try KubeletConfigMap(directory: dir.url)
        try cm.publish(["catalog.yaml": "version: 1\nservers: []\n", "notes.txt": "hello"])
        let first = try ContentHash.directory(dir.path)
        #expect(ContentHash.resolveConfigMapDirectory(dir.path).hasSuffix("/..data"))
        #expect(
            try ContentHash.file(ContentHash.catalogPath(watching: dir.path, file: "catalog.yaml"))
                == ContentHash.sha256(Array("version: 1\nservers: []\n".utf8)))

        // Identical content under a new timestamped directory: same hash.
        try cm.publish(["catalog.yaml": "version: 1\nservers: []\n", "notes.txt": "hello"])
        #expect(try ContentHash.directory(dir.path) == first)
        let entries = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(entries.filter { $0.hasPrefix("..2026") }.count == 1, "the old version was removed")

        // An editor's swap file or any dot-entry does not count.
        try dir.write("..data/.catalog.yaml.swp", "junk")
        #expect(try ContentHash.directory(dir.path) == first)

        // Changed content, a renamed key, a removed key: all different.
        try cm.publish(["catalog.yaml": "version: 1\nservers: []\n", "notes.txt": "hello!"])
        let changed = try ContentHash.directory(dir.path)
        #expect(changed != first)
        try cm.publish(["catalog.yaml": "version: 1\nservers: []\n", "notes2.txt": "hello!"])
        #expect(try ContentHash.directory(dir.path) != changed)
        try cm.publish(["catalog.yaml": "version: 1\nservers: []\n"])
        #expect(try ContentHash.directory(dir.path) != first)
    }

    @Test("a plain directory without ..data hashes its own files")
    func plainDirectory() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("a", "1")
        try dir.write("b", "2")
        let h = try ContentHash.directory(dir.path)
        try dir.write(".hidden", "x")
        #expect(try ContentHash.directory(dir.path) == h)
        // Names and contents are length-prefixed: moving a byte from one file's content to the next name differs.
        let other = try TemporaryDirectory()
        defer { other.remove() }
        try other.write("a", "12")
        try other.write("b", "")
        #expect(try ContentHash.directory(other.path) != h)
    }
}
