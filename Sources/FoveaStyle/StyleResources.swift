import Foundation

/// Networks trained by Fovea and shipped with it (Sources/FoveaStyle/Resources; see README).
public enum StyleResources {
    /// The file `name` of the resources: from the bundle SwiftPM puts beside the executable, else
    /// from the source tree this binary was built from.
    public static func url(_ name: String) -> URL? {
        let candidates = [
            Bundle.main.bundleURL.appendingPathComponent("Fovea_FoveaStyle.resources"),
            Bundle.main.executableURL?.deletingLastPathComponent().appendingPathComponent("Fovea_FoveaStyle.resources"),
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Resources"),
        ]
        return candidates.compactMap { $0?.appendingPathComponent(name) }.first { FileManager.default.fileExists(atPath: $0.path) }
    }
}
