import Foundation

/// Publishes files into a directory the way the kubelet updates a ConfigMap volume (its AtomicWriter):
/// a new `..<timestamp>` directory, a `..data_tmp` symlink to it renamed over `..data`, a `KEY -> ..data/KEY`
/// symlink per key, and the previous timestamped directory removed.
public struct KubeletConfigMap {
    public let directory: URL
    private var generation = 0

    public init(directory: URL) throws {
        self.directory = directory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    /// Publishes `files` (name → content) as the new version of the ConfigMap.
    public mutating func publish(_ files: [String: String]) throws {
        generation += 1
        let fm = FileManager.default
        let stamp = "..2026_11_21_14_00_00.\(String(format: "%09d", generation))"
        let versioned = directory.appendingPathComponent(stamp)
        try fm.createDirectory(at: versioned, withIntermediateDirectories: false)
        for (name, content) in files {
            try Data(content.utf8).write(to: versioned.appendingPathComponent(name))
        }
        let dataLink = directory.appendingPathComponent("..data")
        let previous = try? fm.destinationOfSymbolicLink(atPath: dataLink.path)
        let tmp = directory.appendingPathComponent("..data_tmp")
        try? fm.removeItem(at: tmp)
        try fm.createSymbolicLink(atPath: tmp.path, withDestinationPath: stamp)
        guard rename(tmp.path, dataLink.path) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: dataLink.path])
        }
        for name in files.keys {
            let link = directory.appendingPathComponent(name)
            if (try? fm.destinationOfSymbolicLink(atPath: link.path)) == nil {
                try fm.createSymbolicLink(atPath: link.path, withDestinationPath: "..data/\(name)")
            }
        }
        // Keys that left the ConfigMap lose their symlink.
        for entry in try fm.contentsOfDirectory(atPath: directory.path)
        where !entry.hasPrefix(".") && files[entry] == nil {
            try fm.removeItem(at: directory.appendingPathComponent(entry))
        }
        if let previous, previous != stamp {
            try fm.removeItem(at: directory.appendingPathComponent(previous))
        }
    }
}

/// A fresh temporary directory, removed by `remove()`.
public struct TemporaryDirectory: Sendable {
    public let url: URL
    public var path: String { url.path }

    public init(_ label: String = "hotswap-test") throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    public func file(_ name: String) -> String { url.appendingPathComponent(name).path }

    @discardableResult
    public func write(_ name: String, _ content: String) throws -> String {
        let path = file(name)
        try Data(content.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    public func remove() { try? FileManager.default.removeItem(at: url) }
}
