import Dispatch
import Foundation
import Hummingbird
import Logging

/// Runs the viewer's HTTP server until SIGINT or SIGTERM.
public enum Viewer {
    /// Serves `state` on host:port; `onStart` gets the bound port (port 0 picks a free one).
    public static func serve(_ state: ViewerState, host: String, port: Int, onStart: @escaping @Sendable (Int) -> Void) async throws {
        let app = Application(router: ViewerRoutes.router(state),
                              configuration: .init(address: .hostname(host, port: port), serverName: "fovea"),
                              onServerRunning: { channel in onStart(channel.localAddress?.port ?? port) },
                              logger: quietLogger())
        try await app.runService()
    }

    static func quietLogger() -> Logger {
        var logger = Logger(label: "fovea.viewer")
        logger.logLevel = .warning
        return logger
    }
}
