import Foundation

/// Where Fovea keeps fetched models, labels and sample data: `$FOVEA_CACHE`, else
/// `~/.cache/fovea` (the folder `make demo` fills with `scripts/fetch-data.sh`).
public struct Workspace: Sendable {
    public let cache: URL

    public init(cache: URL? = nil) {
        if let cache { self.cache = cache; return }
        if let env = ProcessInfo.processInfo.environment["FOVEA_CACHE"], !env.isEmpty {
            self.cache = URL(fileURLWithPath: env)
        } else {
            self.cache = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/fovea")
        }
    }

    public var models: URL { cache.appendingPathComponent("models") }
    public var photos: URL { cache.appendingPathComponent("photos") }
    public var imageNetLabels: URL { cache.appendingPathComponent("imagenet1k_label_to_names.json") }

    /// The file for a model's default weights: fetched into the cache's `models/`, or shipped
    /// with Fovea (fashion-cnn); else an error saying how to fetch it.
    public func defaultWeights(for file: String) throws -> URL {
        let url = models.appendingPathComponent(file)
        if FileManager.default.fileExists(atPath: url.path) { return url }
        if let shipped = Workspace.shippedResource(file) { return shipped }
        throw FoveaError("\(url.path): model weights not found; run `make demo` (or scripts/fetch-data.sh \(cache.path)) or pass --weights")
    }

    /// A file of `Sources/Fovea/Resources`: from the resource bundle SwiftPM puts beside the
    /// executable, else from the source tree this binary was built from.
    /// Other targets pass their bundle (`Fovea_FoveaStyle`) and their own `Resources` folder.
    public static func shippedResource(_ file: String, bundle: String = "Fovea_Fovea",
                                       sourceFolder: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                                           .appendingPathComponent("Resources")) -> URL? {
        let candidates = [
            Bundle.main.bundleURL.appendingPathComponent("\(bundle).resources"),
            Bundle.main.executableURL?.deletingLastPathComponent().appendingPathComponent("\(bundle).resources"),
            sourceFolder,
        ]
        return candidates.compactMap { $0?.appendingPathComponent(file) }
            .first { FileManager.default.fileExists(atPath: $0.path) }
    }
}
