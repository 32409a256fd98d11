import Foundation

/// One folder per test process for the files tests write (command outputs, figures, fixtures),
/// removed when the process exits, so a test run leaves nothing in the temporary folder; a folder
/// left by a process that was killed is removed by the next run.
public enum Scratch {
    public static let folder: URL = {
        let temporary = FileManager.default.temporaryDirectory
        let prefix = "fovea-tests-"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: temporary.path)) ?? [] where name.hasPrefix(prefix) {
            if let pid = Int32(name.dropFirst(prefix.count)), kill(pid, 0) != 0, errno == ESRCH {
                try? FileManager.default.removeItem(at: temporary.appendingPathComponent(name))
            }
        }
        let folder = temporary.appendingPathComponent("\(prefix)\(getpid())")
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(at: Scratch.folder) }
        return folder
    }()

    /// A new path in the folder: `prefix`, a UUID and `.ext` when given.
    public static func url(_ prefix: String, ext: String? = nil) -> URL {
        folder.appendingPathComponent("\(prefix)-\(UUID().uuidString)" + (ext.map { ".\($0)" } ?? ""))
    }
}
