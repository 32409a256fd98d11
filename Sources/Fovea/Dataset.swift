import Foundation
import FoveaIO
import FoveaModels
import FoveaTensor

/// Images with (optional) class labels, read one at a time: a folder of images, an IDX file
/// pair (MNIST / Fashion-MNIST), ...
public protocol ImageDataset: Sendable {
    var count: Int { get }
    /// Class index per image, or nil for an unlabelled dataset.
    var labels: [Int]? { get }
    /// Names of the classes the labels index (may be empty).
    var classNames: [String] { get }
    func image(at index: Int) throws -> Image
    /// How to refer to image `index` in output: its path, or `DATASET#INDEX`, which
    /// ``loadImage(_:)`` reads back.
    func name(at index: Int) -> String
}

extension ImageFolder: ImageDataset {
    public var count: Int { paths.count }
    public func image(at index: Int) throws -> Image {
        do { return try Image.load(path: paths[index]) } catch {
            throw FoveaError("\(error) (--skip-unreadable leaves such images out)")
        }
    }
    public func name(at index: Int) -> String { paths[index] }
}

/// Unlabelled images given by path (files or `DATASET#INDEX` references).
public struct ImageFiles: ImageDataset {
    public let paths: [String]
    public init(_ paths: [String]) { self.paths = paths }
    public var count: Int { paths.count }
    public var labels: [Int]? { nil }
    public var classNames: [String] { [] }
    public func image(at index: Int) throws -> Image { try loadImage(paths[index]) }
    public func name(at index: Int) -> String { paths[index] }
}

/// An IDX image file ([N, H, W] unsigned bytes) with its IDX label file ([N], 0...classes-1).
public struct IDXDataset: ImageDataset {
    public let images: IDXArray
    public let labels: [Int]?
    public let classNames: [String]
    public let title: String

    public init(images url: URL, labels labelURL: URL?, classNames: [String] = [], title: String? = nil) throws {
        images = try IDXArray(contentsOf: url)
        guard images.shape.count == 3 || (images.shape.count == 4 && [1, 3].contains(images.shape[3])),
              images.shape[1] >= 1, images.shape[2] >= 1 else {
            throw FoveaError("\(url.path): IDX shape \(images.shape) is not [N, H, W] images")
        }
        if let labelURL {
            let l = try IDXArray(contentsOf: labelURL)
            guard l.shape == [images.shape[0]] else {
                throw FoveaError("\(labelURL.path): \(l.shape) labels for \(images.shape[0]) images")
            }
            if !classNames.isEmpty, let bad = l.bytes.first(where: { Int($0) >= classNames.count }) {
                throw FoveaError("\(labelURL.path): label \(bad) out of range 0..<\(classNames.count)")
            }
            labels = l.bytes.map(Int.init)
        } else {
            labels = nil
        }
        self.classNames = classNames
        self.title = title ?? url.path
    }

    public var count: Int { images.shape[0] }

    public func image(at index: Int) throws -> Image {
        let (h, w) = (images.shape[1], images.shape[2])
        let c = images.shape.count == 4 ? images.shape[3] : 1
        let size = h * w * c
        return Image(width: w, height: h, channels: c, pixels: Array(images.bytes[(index * size)..<((index + 1) * size)]))
    }

    public func name(at index: Int) -> String { "\(title)#\(index)" }
}

/// Two datasets one after the other (Fashion-MNIST's 60k training and 10k test images as 70k).
public struct ConcatenatedDataset: ImageDataset {
    public let first: any ImageDataset
    public let second: any ImageDataset

    public var count: Int { first.count + second.count }
    public var labels: [Int]? { first.labels.flatMap { a in second.labels.map { a + $0 } } }
    public var classNames: [String] { first.classNames }
    public func image(at index: Int) throws -> Image {
        index < first.count ? try first.image(at: index) : try second.image(at: index - first.count)
    }
    public func name(at index: Int) -> String {
        index < first.count ? first.name(at: index) : second.name(at: index - first.count)
    }
}

/// Images `range` of another dataset, renumbered from 0 (a shard of a batch job).
public struct DatasetSlice: ImageDataset {
    public let base: any ImageDataset
    public let range: Range<Int>

    public init(_ base: any ImageDataset, _ range: Range<Int>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= base.count, "slice \(range) outside 0..<\(base.count)")
        (self.base, self.range) = (base, range)
    }

    public var count: Int { range.count }
    public var labels: [Int]? { base.labels.map { Array($0[range]) } }
    public var classNames: [String] { base.classNames }
    public func image(at index: Int) throws -> Image { try base.image(at: range.lowerBound + index) }
    public func name(at index: Int) -> String { base.name(at: range.lowerBound + index) }
}

/// Fashion-MNIST (Zalando), as the Debian package `dataset-fashion-mnist` installs it.
public enum FashionMNIST {
    public static let classNames = FashionCNN.fashionMNISTClasses
    /// `$FOVEA_FASHION_MNIST`, else `/usr/share/datasets/fashion-mnist`.
    public static var root: URL {
        let env = ProcessInfo.processInfo.environment["FOVEA_FASHION_MNIST"] ?? ""
        return URL(fileURLWithPath: env.isEmpty ? "/usr/share/datasets/fashion-mnist" : env)
    }

    public enum Split: String, CaseIterable, Sendable { case train, test, all }

    public static func load(_ split: Split) throws -> any ImageDataset {
        func part(_ prefix: String) throws -> IDXDataset {
            let images = root.appendingPathComponent("\(prefix)-images-idx3-ubyte.gz")
            guard FileManager.default.fileExists(atPath: images.path) else {
                throw FoveaError("\(images.path): Fashion-MNIST not found; install the Debian package dataset-fashion-mnist (make deps) or set FOVEA_FASHION_MNIST")
            }
            return try IDXDataset(images: images, labels: root.appendingPathComponent("\(prefix)-labels-idx1-ubyte.gz"),
                                  classNames: classNames, title: "fashion-mnist:\(prefix == "t10k" ? "test" : "train")")
        }
        switch split {
        case .train: return try part("train")
        case .test: return try part("t10k")
        case .all: return ConcatenatedDataset(first: try part("train"), second: try part("t10k"))
        }
    }
}

/// Opens a DATASET argument:
/// - `fashion-mnist[:train|:test|:all]` (default split: test),
/// - an IDX images file (`...-images-idx3-ubyte[.gz]`; the labels file beside it, named
///   `...-labels-idx1-ubyte[.gz]`, is used when present),
/// - a folder of images, or of class subfolders.
///
/// `skipUnreadable`: a folder's undecodable images are left out (``ImageFolder/skipped``).
public func openDataset(_ spec: String, skipUnreadable: Bool = false) throws -> any ImageDataset {
    let lower = spec.lowercased()
    if lower == "fashion-mnist" || lower.hasPrefix("fashion-mnist:") {
        let splitName = lower == "fashion-mnist" ? "test" : String(lower.dropFirst("fashion-mnist:".count))
        guard let split = FashionMNIST.Split(rawValue: splitName) else {
            throw FoveaError("\(spec): unknown split \(splitName); use fashion-mnist:train, :test or :all")
        }
        return try FashionMNIST.load(split)
    }
    let url = URL(fileURLWithPath: spec)
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: spec, isDirectory: &isDirectory) else {
        throw FoveaError("\(spec): no such file or folder (a dataset is a folder of images, an IDX file or fashion-mnist[:train|:test|:all])")
    }
    if isDirectory.boolValue { return try ImageFolder(spec, skipUnreadable: skipUnreadable) }
    if url.lastPathComponent.contains("idx3-ubyte") {
        let labels = URL(fileURLWithPath: spec.replacingOccurrences(of: "images-idx3", with: "labels-idx1"))
        let hasLabels = labels.path != spec && FileManager.default.fileExists(atPath: labels.path)
        return try IDXDataset(images: url, labels: hasLabels ? labels : nil)
    }
    throw FoveaError("\(spec): not a dataset (a folder of images, an IDX images file or fashion-mnist[:train|:test|:all])")
}

/// An image file, or image INDEX of a dataset given as `DATASET#INDEX` (the row names that
/// `fovea embed --paths` writes for IDX datasets, e.g. `fashion-mnist:test#42`). Any command that
/// reads an image takes either.
public func loadImage(_ reference: String) throws -> Image {
    if FileManager.default.fileExists(atPath: reference) { return try Image.load(path: reference) }
    if let hash = reference.lastIndex(of: "#"), let index = Int(reference[reference.index(after: hash)...]) {
        let dataset = try DatasetCache.shared.open(String(reference[..<hash]))
        guard index >= 0, index < dataset.count else {
            throw FoveaError("\(reference): index out of range 0..<\(dataset.count)")
        }
        return try dataset.image(at: index)
    }
    return try Image.load(path: reference)
}

/// Datasets opened by ``loadImage(_:)``, kept so that drawing many thumbnails reads each once.
final class DatasetCache: @unchecked Sendable {
    static let shared = DatasetCache()
    private var open: [String: any ImageDataset] = [:]
    private let lock = NSLock()

    func open(_ spec: String) throws -> any ImageDataset {
        if let d = lock.withLock({ open[spec] }) { return d }
        let d = try openDataset(spec)
        lock.withLock { open[spec] = d }
        return d
    }
}
