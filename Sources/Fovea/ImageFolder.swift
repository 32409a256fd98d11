import Foundation

/// A folder of images: every PNG/JPEG in it, or, when it has subfolders, every image in each
/// subfolder with the subfolder's name as its class.
public struct ImageFolder: Sendable {
    public let paths: [String]
    /// Class index per image (nil without subfolders).
    public let labels: [Int]?
    public let classNames: [String]

    static let extensions: Set<String> = ["png", "jpg", "jpeg"]

    public init(_ root: String) throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw FoveaError("\(root): not a folder of images")
        }
        func images(in dir: URL) throws -> [String] {
            try fm.contentsOfDirectory(atPath: dir.path).sorted()
                .filter { Self.extensions.contains(URL(fileURLWithPath: $0).pathExtension.lowercased()) }
                .map { dir.appendingPathComponent($0).path }
        }
        let url = URL(fileURLWithPath: root)
        let subfolders = try fm.contentsOfDirectory(atPath: root).sorted().filter {
            var d: ObjCBool = false
            return fm.fileExists(atPath: url.appendingPathComponent($0).path, isDirectory: &d) && d.boolValue
        }
        if subfolders.isEmpty {
            paths = try images(in: url)
            labels = nil
            classNames = []
        } else {
            var p: [String] = [], l: [Int] = []
            for (i, name) in subfolders.enumerated() {
                let files = try images(in: url.appendingPathComponent(name))
                p += files
                l += Array(repeating: i, count: files.count)
            }
            (paths, labels, classNames) = (p, l, subfolders)
        }
        guard !paths.isEmpty else { throw FoveaError("\(root): no PNG or JPEG images") }
    }
}
