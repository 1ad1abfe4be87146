import Foundation
import HTTPTypes
import HotswapAPI
import HotswapCore
import HotswapRuntime
import HotswapWatch
import Hummingbird
import Logging
import ServiceLifecycle

/// `hotswap sidecar`: the reload controller plus its `/metrics`, `/healthz` and `/readyz` listener.
public final class Sidecar: Sendable {
    public let controller: ReloadController
    private let listen: String?
    private let logger: Logger

    public init(configuration: WatchConfiguration, listen: String?, logger: Logger) {
        self.controller = ReloadController(configuration: configuration, logger: logger)
        self.listen = listen
        self.logger = logger
    }

    public func run() async throws {
        var services: [any Service] = [ControllerService(controller: controller)]
        if let listen {
            let address = try ListenAddress(parsing: listen)
            let (host, port) = (address.host, address.port)
            let router = Router()
            let controller = self.controller
            router.get("/metrics") { _, _ -> Response in
                var headers = HTTPFields()
                headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
                return Response(
                    status: .ok, headers: headers,
                    body: .init(byteBuffer: ByteBuffer(string: controller.metrics.sink.render())))
            }
            router.get("/healthz") { _, _ -> Response in
                controller.isHealthy()
                    ? Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ok\n")))
                    : Response(
                        status: .serviceUnavailable,
                        body: .init(byteBuffer: ByteBuffer(string: "polling has stalled for more than 3 intervals\n")))
            }
            router.get("/readyz") { _, _ -> Response in
                controller.validHash != nil
                    ? Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ready\n")))
                    : Response(
                        status: .serviceUnavailable,
                        body: .init(byteBuffer: ByteBuffer(string: "no valid catalog has been read yet\n")))
            }
            var quiet = logger
            quiet.logLevel = .warning
            let logger = self.logger
            services.append(
                Application(
                    router: router, configuration: .init(address: .hostname(host, port: port)),
                    onServerRunning: { channel in
                        logger.info(
                            "listening", metadata: ["listen": "\(channel.localAddress.map { "\($0)" } ?? listen)"])
                    }, logger: quiet))
        }
        var quiet = logger
        quiet.logLevel = .warning
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: quiet))
        try await group.run()
    }
}

/// Runs the controller until the group shuts down.
struct ControllerService: Service {
    let controller: ReloadController

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await controller.run()
        }
    }
}
