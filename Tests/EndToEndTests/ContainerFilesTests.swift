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

    /// Every `hotswap ...` argv the container files run as a healthcheck, as JSON arrays (`["CMD", "hotswap", ...]`).
    func healthcheckArgvs() throws -> [(file: String, argv: [String])] {
        var found: [(String, [String])] = []
        for file in ["Dockerfile", "compose.yaml"] {
            let text = try String(contentsOfFile: "\(root)/\(file)", encoding: .utf8)
            for line in text.split(separator: "\n") where line.contains("\"hotswap\", \"healthcheck\"") {
                guard let open = line.firstIndex(of: "["), let close = line.lastIndex(of: "]"),
                    let array = try? JSONValue.parse(Array(line[open...close].utf8)).arrayValue
                else { continue }
                let argv = array.compactMap(\.stringValue).drop { $0 == "CMD" || $0 == "CMD-SHELL" }
                found.append((file, Array(argv)))
            }
        }
        return found
    }

    @Test("every healthcheck command line of the Dockerfile and compose.yaml runs, and passes against a real gateway")
    func healthchecksRun() async throws {
        let argvs = try healthcheckArgvs()
        #expect(argvs.count >= 4, "the Dockerfile's HEALTHCHECK and compose's three: \(argvs)")
        let gw = try await GatewayProcess(
            catalog: "version: 1\nservers: []\n", arguments: ["--listen", "127.0.0.1:0"])
        let port = try await gw.tcpPort()
        for (file, argv) in argvs {
            #expect(argv.first == "hotswap", "\(file): \(argv)")
            // The same flags, pointed at this test's gateway instead of the container's fixed addresses.
            let arguments = argv.dropFirst().map { argument in
                argument.replacingOccurrences(of: "/run/hotswap/control.sock", with: gw.socket)
                    .replacingOccurrences(of: "127.0.0.1:4444", with: "127.0.0.1:\(port)")
                    .replacingOccurrences(of: "127.0.0.1:9533", with: "127.0.0.1:\(port)")
            }
            let run = try ProcessRunner.run(TestPaths.product("hotswap"), Array(arguments))
            #expect(run.status == 0, "\(file): \(argv) -> \(run)")
        }
        try await gw.finish()
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

    /// Issue 13, item 5: the signing key reaches the sidecars alone; gateways (whose servers run as their user)
    /// mount only the public key. Checked on the parsed files: compose.yaml and both rendered Kubernetes variants.
    @Test("the private signing key is mounted into sidecars only, in compose and in Kubernetes")
    func keysWhereTheyBelong() throws {
        var rendered: [String] = []
        for dir in ["base", "overlays/sighup"] {
            let r = try ProcessRunner.run("/usr/bin/env", ["kubectl", "kustomize", "\(root)/deploy/kubernetes/\(dir)"])
            #expect(r.status == 0, "\(r)")
            rendered.append(
                try FileManager.default.temporaryDirectory.appendingPathComponent("k8s-\(UUID().uuidString).yaml").path)
            try Data(r.stdout.utf8).write(to: URL(fileURLWithPath: rendered.last!))
        }
        defer { for f in rendered { try? FileManager.default.removeItem(atPath: f) } }
        let check = """
            import sys, yaml
            problems = []
            compose = yaml.safe_load(open(sys.argv[1]))
            for name, service in compose["services"].items():
                volumes = [v.split(":")[0] for v in service.get("volumes", [])]
                command = " ".join(service.get("command", []))
                if name.startswith("gateway") and "sidecar-keys" in volumes:
                    problems.append(f"compose: {name} mounts the private key volume")
                if name.startswith("sidecar") and "sidecar-keys" not in volumes:
                    problems.append(f"compose: {name} lacks the signing key")
                if name.startswith("gateway") and "gateway-keys" not in volumes:
                    problems.append(f"compose: {name} lacks the public key")
            keygen = compose["services"]["keygen"]
            if "gateway-keys:/pubkeys" not in keygen["volumes"] or "/pubkeys/sidecar.pub.pem" not in " ".join(keygen["command"]):
                problems.append("compose: keygen does not publish the public key to gateway-keys")
            for path in sys.argv[2:]:
                for doc in yaml.safe_load_all(open(path)):
                    if not doc or doc.get("kind") != "Deployment":
                        continue
                    spec = doc["spec"]["template"]["spec"]
                    secrets = {v["name"]: v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v}
                    for c in spec["containers"]:
                        mounted = {secrets[m["name"]] for m in c.get("volumeMounts", []) if m["name"] in secrets}
                        if c["name"] == "gateway" and mounted != {"hotswap-verify-key"}:
                            problems.append(f"{path}: the gateway mounts {sorted(mounted)}")
                        if c["name"] == "sidecar" and mounted != {"hotswap-signing-key"}:
                            problems.append(f"{path}: the sidecar mounts {sorted(mounted)}")
            print("\\n".join(problems))
            sys.exit(1 if problems else 0)
            """
        let r = try ProcessRunner.run(TestPaths.python, ["-c", check, "\(root)/compose.yaml"] + rendered)
        #expect(r.status == 0, "\(r)")
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
