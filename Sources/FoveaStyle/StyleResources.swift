import Foundation
import Fovea

/// Networks trained by Fovea and shipped with it (Sources/FoveaStyle/Resources; see README).
public enum StyleResources {
    /// The file `name` of the resources, found as ``Workspace/shippedResource(_:bundle:sourceFolder:)`` finds Fovea's.
    public static func url(_ name: String) -> URL? {
        Workspace.shippedResource(name, bundle: "Fovea_FoveaStyle",
                                  sourceFolder: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Resources"))
    }
}
