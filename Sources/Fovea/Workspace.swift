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

    /// The fetched file for a model's default weights, or an error saying how to fetch it.
    public func defaultWeights(for file: String) throws -> URL {
        let url = models.appendingPathComponent(file)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw FoveaError("\(url.path): model weights not found; run `make demo` (or scripts/fetch-data.sh \(cache.path)) or pass --weights")
        }
        return url
    }
}
