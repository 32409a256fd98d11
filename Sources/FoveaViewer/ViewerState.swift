import Dispatch
import Fovea
import FoveaIO
import Foundation

/// A model the viewer offers: its name in the picker, where it came from, and how to build it.
public struct ViewerModel: Sendable {
    public let name: String
    /// "built-in" or the file it was imported from.
    public let source: String
    public let load: @Sendable () throws -> ImageClassifier

    public init(name: String, source: String, load: @escaping @Sendable () throws -> ImageClassifier) {
        (self.name, self.source, self.load) = (name, source, load)
    }
}

/// What `fovea serve` was given.
public struct ViewerOptions: Sendable {
    /// The picker's models, the first one selected.
    public var models: [ViewerModel]
    /// Gallery photos: image files the server was given (never a path a client names).
    public var photos: [String]
    /// Style images for the style panel (`style-N`).
    public var styles: [String] = []
    /// The projector's and the gallery's dataset (`fashion-mnist`, a folder, an IDX file), if any.
    public var dataset: String?
    /// The model that embeds the dataset for the projector (default: the first model).
    public var projectorModel: String?
    /// At most this many dataset images in the projector (nil: all).
    public var projectorPoints: Int?
    /// Dataset images shown in the gallery.
    public var galleryDatasetImages = 20
    /// Largest upload accepted, in bytes.
    public var uploadLimit = 10 << 20
    /// Uploads kept; the oldest goes when a new one exceeds this.
    public var maxUploads = 64
    /// The cache folder: projections, channel pictures and explain-all results go to its `viewer/`.
    public var cache: URL

    public init(models: [ViewerModel], photos: [String], dataset: String?, cache: URL) {
        (self.models, self.photos, self.dataset, self.cache) = (models, photos, dataset, cache)
    }
}

/// The server's state: loaded models, the gallery and uploads, the projector's data and the
/// long jobs. Model work runs on one serial queue, so requests never share a network at once.
public final class ViewerState: @unchecked Sendable {
    public let options: ViewerOptions
    let jobs = JobRegistry()
    /// Guards the loaded models, uploads, dataset and projections.
    let lock = NSLock()
    private let computeQueue = DispatchQueue(label: "fovea.viewer.compute")
    private var classifiers: [String: ImageClassifier] = [:]
    private var uploads: [(id: String, name: String, image: Image)] = []
    private var uploadCounter = 0
    private var openedDataset: (any ImageDataset)?
    let styleNetworks = StyleNetworks()
    var projections: [String: Projection] = [:]

    public init(_ options: ViewerOptions) {
        self.options = options
    }

    /// Runs model work on the compute queue, one request at a time.
    func compute<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            computeQueue.async { continuation.resume(with: Result { try body() }) }
        }
    }

    func model(named name: String?) throws -> ViewerModel {
        guard let name, !name.isEmpty else { return options.models[0] }
        guard let entry = options.models.first(where: { $0.name == name }) else {
            throw ViewerError(.notFound, "model \(name): not one of \(options.models.map(\.name).joined(separator: ", "))")
        }
        return entry
    }

    /// The named model, loaded once (call on the compute queue).
    func classifier(_ name: String?) throws -> ImageClassifier {
        let entry = try model(named: name)
        if let loaded = lock.withLock({ classifiers[entry.name] }) { return loaded }
        let classifier = try entry.load()
        lock.withLock { classifiers[entry.name] = classifier }
        return classifier
    }

    func dataset() throws -> any ImageDataset {
        if let d = lock.withLock({ openedDataset }) { return d }
        guard let spec = options.dataset else { throw ViewerError(.notFound, "no dataset: start the server with --dataset") }
        let d = try openDataset(spec)
        lock.withLock { openedDataset = d }
        return d
    }

    // MARK: Gallery

    struct GalleryImage: Codable, Sendable {
        let id: String, name: String, source: String
        let label: String?
    }

    /// Photos, then a few dataset images (spread over its classes), then uploads, newest last.
    func gallery() throws -> [GalleryImage] {
        var items = options.photos.enumerated().map {
            GalleryImage(id: "photo-\($0.offset)", name: URL(fileURLWithPath: $0.element).lastPathComponent, source: "photo", label: nil)
        }
        if options.dataset != nil {
            let d = try dataset()
            let step = max(1, d.count / max(1, options.galleryDatasetImages))
            for index in stride(from: 0, to: min(d.count, step * options.galleryDatasetImages), by: step) {
                let label = d.labels.flatMap { labels in d.classNames.indices.contains(labels[index]) ? d.classNames[labels[index]] : "\(labels[index])" }
                items.append(GalleryImage(id: "dataset-\(index)", name: d.name(at: index), source: "dataset", label: label))
            }
        }
        items += lock.withLock { uploads.map { GalleryImage(id: $0.id, name: $0.name, source: "upload", label: nil) } }
        return items
    }

    /// The image behind a gallery id. Ids are all a client can name: `photo-N` indexes the
    /// photos the server was given, `dataset-N` its dataset, `upload-N` the uploads.
    func image(_ id: String) throws -> Image {
        let parts = id.split(separator: "-", maxSplits: 1).map(String.init)
        guard parts.count == 2, let index = Int(parts[1]), index >= 0 else { throw ViewerError(.notFound, "image \(id): no such image") }
        switch parts[0] {
        case "photo":
            guard index < options.photos.count else { throw ViewerError(.notFound, "image \(id): no such image") }
            return try Image.load(path: options.photos[index])
        case "dataset":
            let d = try dataset()
            guard index < d.count else { throw ViewerError(.notFound, "image \(id): no such image (the dataset has \(d.count))") }
            return try d.image(at: index)
        case "style":
            guard index < options.styles.count else { throw ViewerError(.notFound, "image \(id): no such style image") }
            return try Image.load(path: options.styles[index])
        case "upload":
            guard let upload = lock.withLock({ uploads.first { $0.id == id } }) else {
                throw ViewerError(.notFound, "image \(id): no such upload (uploads are kept while the server runs, the last \(options.maxUploads))")
            }
            return upload.image
        default:
            throw ViewerError(.notFound, "image \(id): no such image")
        }
    }

    /// Decodes an uploaded file by its content (PNG or JPEG magic bytes, whatever its name or
    /// type says) and keeps it; returns its id.
    func addUpload(_ data: Data, name: String) throws -> GalleryImage {
        guard data.count <= options.uploadLimit else {
            throw ViewerError(.contentTooLarge, "upload \(name): \(data.count) bytes, over the \(options.uploadLimit >> 20) MB limit")
        }
        let image: Image
        do {
            if data.starts(with: [0x89, 0x50, 0x4E, 0x47]) { image = try PNG.decode(data, name: name) }
            else if data.starts(with: [0xFF, 0xD8, 0xFF]) { image = try JPEG.decode(data, name: name) }
            else { throw ViewerError(.badRequest, "upload \(name): not a PNG or JPEG image (by its first bytes)") }
        } catch let error as ViewerError {
            throw error
        } catch {
            throw ViewerError(.badRequest, "upload: \(error)")
        }
        guard image.width >= 8, image.height >= 8, image.width <= 16384, image.height <= 16384 else {
            throw ViewerError(.badRequest, "upload \(name): \(image.width)x\(image.height) pixels; images from 8 to 16384 pixels a side are accepted")
        }
        return lock.withLock {
            uploadCounter += 1
            let item = (id: "upload-\(uploadCounter)", name: name, image: image)
            uploads.append(item)
            if uploads.count > options.maxUploads { uploads.removeFirst(uploads.count - options.maxUploads) }
            return GalleryImage(id: item.id, name: name, source: "upload", label: nil)
        }
    }
}

/// A request's failure: an HTTP status and one line saying what was wrong, sent as
/// `{"error": "..."}`.
struct ViewerError: Error, CustomStringConvertible {
    let status: Status
    let message: String
    var description: String { message }

    enum Status: Int { case badRequest = 400, forbidden = 403, notFound = 404, contentTooLarge = 413, conflict = 409 }

    init(_ status: Status, _ message: String) { (self.status, self.message) = (status, message) }
}
