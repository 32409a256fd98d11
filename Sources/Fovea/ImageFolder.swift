import Foundation
import FoveaIO

/// A folder of images: every PNG/JPEG in it, or, when it has subfolders, every image in each
/// subfolder with the subfolder's name as its class.
public struct ImageFolder: Sendable {
    public let paths: [String]
    /// Class index per image (nil without subfolders).
    public let labels: [Int]?
    public let classNames: [String]
    /// Images left out because they could not be decoded (with `skipUnreadable`): path and reason.
    public let skipped: [(path: String, reason: String)]

    static let extensions: Set<String> = ["png", "jpg", "jpeg"]

    /// `skipUnreadable`: decode every image once now and leave out (and list in ``skipped``)
    /// those that fail; otherwise an unreadable image fails when it is read.
    public init(_ root: String, skipUnreadable: Bool = false) throws {
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
        var found: [String], classes: [Int]?
        if subfolders.isEmpty {
            found = try images(in: url)
            classes = nil
            classNames = []
        } else {
            var p: [String] = [], l: [Int] = []
            for (i, name) in subfolders.enumerated() {
                let files = try images(in: url.appendingPathComponent(name))
                p += files
                l += Array(repeating: i, count: files.count)
            }
            (found, classes) = (p, l)
            classNames = subfolders
        }
        var skipped: [(String, String)] = []
        if skipUnreadable {
            var keep = [Bool](repeating: true, count: found.count)
            for (i, path) in found.enumerated() {
                do { _ = try Image.load(path: path) } catch {
                    keep[i] = false
                    skipped.append((path, "\(error)"))
                }
            }
            classes = classes.map { l in l.indices.filter { keep[$0] }.map { l[$0] } }
            found = found.indices.filter { keep[$0] }.map { found[$0] }
        }
        (paths, labels, self.skipped) = (found, classes, skipped)
        guard !paths.isEmpty else {
            throw FoveaError(skipped.isEmpty ? "\(root): no PNG or JPEG images" : "\(root): none of its \(skipped.count) images could be read")
        }
    }
}
