import Foundation
import HotswapCore
import HotswapTestSupport
import Testing

/// The Dockerfile, compose.yaml and Kubernetes manifests, checked by the validators the ecosystem uses.
@Suite("Container files pass their validators")
struct ContainerFilesTests {
    let root = TestPaths.packageRoot.path
    var venvBin: String { URL(fileURLWithPath: TestPaths.python).deletingLastPathComponent().path }

    private func tool(_ name: String) throws -> String {
        let path = "\(venvBin)/\(name)"
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw ProcessTestFailure("\(path) is missing: run scripts/test, which installs it into .venv")
        }
        return path
    }

    @Test("hadolint reports nothing on the Dockerfile (ignored rules are justified in .hadolint.yaml)")
    func dockerfile() throws {
        let r = try ProcessRunner.run(
            try tool("hadolint"), ["--config", "\(root)/.hadolint.yaml", "\(root)/Dockerfile"])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.isEmpty, "\(r)")
        let config = try String(contentsOfFile: "\(root)/.hadolint.yaml", encoding: .utf8)
        for rule in config.split(separator: "\n").filter({ $0.trimmingCharacters(in: .whitespaces).hasPrefix("- DL") })
        {
            let id = rule.trimmingCharacters(in: .whitespaces).dropFirst(2)
            #expect(config.contains("# \(id) ("), "\(id) is ignored without a reason")
        }
    }

    @Test("compose.yaml validates against the Compose Specification schema")
    func compose() throws {
        let schema = TestPaths.packageRoot.deletingLastPathComponent().appendingPathComponent(
            "shared/schemas/compose-spec.json"
        ).path
        guard FileManager.default.fileExists(atPath: schema) else {
            throw ProcessTestFailure("\(schema) is missing: CI checks out shared/ beside the repository")
        }
        let r = try ProcessRunner.run(try tool("check-jsonschema"), ["--schemafile", schema, "\(root)/compose.yaml"])
        #expect(r.status == 0, "\(r)")
        let text = try String(contentsOfFile: "\(root)/compose.yaml", encoding: .utf8)
        #expect(text.contains("condition: service_completed_successfully"))
        #expect(text.contains("pid: \"service:gateway-sighup\""))
        #expect(text.contains("./examples:/etc/hotswap:ro"), "the directory, read-only, not the file")
    }

    @Test(
        "kustomize renders the base and the sighup overlay; every object passes kubernetes-validate --strict for 1.37")
    func kubernetes() throws {
        for (dir, shared) in [("base", false), ("overlays/sighup", true)] {
            let rendered = try ProcessRunner.run(
                "/usr/bin/env", ["kubectl", "kustomize", "\(root)/deploy/kubernetes/\(dir)"])
            #expect(rendered.status == 0, "\(rendered)")
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("k8s-\(UUID().uuidString).yaml")
                .path
            try Data(rendered.stdout.utf8).write(to: URL(fileURLWithPath: file))
            defer { try? FileManager.default.removeItem(atPath: file) }
            let v = try ProcessRunner.run(
                try tool("kubernetes-validate"), ["--strict", "--kubernetes-version", "1.37.0", file])
            #expect(v.status == 0, "\(dir): \(v)")
            for kind in [
                "configmap/hotswap-catalog", "deployment/hotswap", "service/hotswap", "poddisruptionbudget/hotswap",
            ] {
                #expect(
                    v.stdout.contains("passed for resource \(kind)")
                        || v.stderr.contains("passed for resource \(kind)"), "\(dir): \(kind)")
            }
            #expect(!rendered.stdout.contains("subPath"), "the catalog is mounted as a directory")
            #expect(
                rendered.stdout.contains("readOnlyRootFilesystem: true")
                    && rendered.stdout.contains("runAsNonRoot: true"))
            #expect(rendered.stdout.contains("shareProcessNamespace: true") == shared)
        }
        // The catalog the ConfigMap is generated from is the example's, valid as it is.
        let base = try String(contentsOfFile: "\(root)/deploy/kubernetes/base/catalog.yaml", encoding: .utf8)
        #expect(base == (try String(contentsOfFile: "\(root)/examples/catalog.yaml", encoding: .utf8)))
    }
}
