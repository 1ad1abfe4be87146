import Foundation
import HotswapCore
import Logging

/// Single-file bind mounts: editors that save by rename, and Kubernetes `subPath`, never reach into them.
enum MountCheck {
    /// Mount points from /proc/self/mountinfo (field 5, with octal escapes decoded).
    static func mountPoints() -> Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return [] }
        var points = Set<String>()
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { continue }
            points.insert(decode(String(fields[4])))
        }
        return points
    }

    static func decode(_ s: String) -> String {
        var out = ""
        var i = s.startIndex
        while i < s.endIndex {
            if s[i] == "\\", let end = s.index(i, offsetBy: 4, limitedBy: s.endIndex),
                let code = UInt8(s[s.index(after: i)..<end], radix: 8)
            {
                out.append(Character(Unicode.Scalar(code)))
                i = end
            } else {
                out.append(s[i])
                i = s.index(after: i)
            }
        }
        return out
    }

    static func warnIfSingleFileMount(_ watch: String, logger: Logger) {
        guard !FileIO.isDirectory(watch) else { return }
        let path = URL(fileURLWithPath: watch).standardizedFileURL.path
        guard mountPoints().contains(path) else { return }
        logger.warning(
            "the watched file is itself a mount point (a single-file bind mount or a Kubernetes subPath): editors that save by rename, and ConfigMap updates, never reach it. Mount the directory instead and watch it with --watch DIR --file NAME",
            metadata: ["watch.path": "\(path)"])
    }
}
