import Fovea
import FoveaFeatures
import FoveaIO
import FoveaNN
import FoveaSynthesis
import FoveaTensor
import Foundation

/// Per channel of a layer: its feature visualisation and its strongest patches over a set of
/// images, each a job whose picture is cached on disk, and its filter.
extension ViewerState {
    /// What a channel view is of: model, layer, channel.
    struct ChannelRef: Sendable {
        let model: ViewerModel, layer: String, channel: Int

        /// A file name for `kind` (`visualization`, `patches`) with `detail` (steps, image set).
        func file(in cache: URL, _ kind: String, _ detail: String) -> URL {
            let safe = "\(model.name)-\(layer)-\(channel)-\(kind)-\(detail)".map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" }
            return cache.appendingPathComponent("viewer", isDirectory: true).appendingPathComponent(String(safe) + ".png")
        }
    }

    /// Checks that `layer` has a spatial output with `channel` among its channels (on the
    /// compute queue: it runs the model once).
    func channelRef(model name: String?, layer: String, channel: Int) throws -> ChannelRef {
        let entry = try model(named: name)
        let classifier = try classifier(entry.name)
        let p = classifier.preprocessing
        guard let shape = classifier.module.layerShapes(input: [1, p.channels, p.inputSize, p.inputSize]).first(where: { $0.path == layer })?.shape else {
            throw UnknownLayerError(name: layer, in: classifier.module)
        }
        guard shape.count == 4 else { throw ViewerError(.badRequest, "layer \(layer): output \(shape) has no channels to view (needs [1, C, H, W])") }
        guard (0..<shape[1]).contains(channel) else { throw ViewerError(.badRequest, "channel \(channel): \(layer) has channels 0..<\(shape[1])") }
        return ChannelRef(model: entry, layer: layer, channel: channel)
    }

    /// Feature visualisation of a channel: `steps` Adam steps on a decorrelated Fourier image
    /// with Lucid's standard transforms (what `fovea visualize --layer L --channel C` does).
    func visualizationFile(_ ref: ChannelRef, steps: Int) -> URL { ref.file(in: options.cache, "visualization", "\(steps)") }

    func startVisualization(_ ref: ChannelRef, steps: Int) -> Job {
        let file = visualizationFile(ref, steps: steps)
        return jobs.start(kind: "visualization", key: file.lastPathComponent) { job in
            if FileManager.default.fileExists(atPath: file.path) { return }
            let classifier = try ref.model.load()
            let side = classifier.preprocessing.inputSize
            var settings = SynthesisSettings()
            settings.steps = steps
            settings.transforms = ImageTransform.scaled(ImageTransform.standard, toSize: side)
            settings.shouldStop = { job.isCancelled }
            var generator = SeededGenerator(seed: 0)
            let image = FourierImage(shape: [1, classifier.preprocessing.channels, side, side], decorrelate: classifier.preprocessing.channels == 3,
                                     generator: &generator)
            try job.progress("visualising channel \(ref.channel) of \(ref.layer)", 0, steps)
            let result = try Synthesizer(classifier).run(.channel(ref.layer, ref.channel), image, settings: settings) { p in
                try? job.progress("visualising channel \(ref.channel) of \(ref.layer)", p.step, p.steps)
            }
            try Self.save(Image(tensor: result.image, scale: 1 / 255).enlargedForDisplay(), to: file)
        }
    }

    /// The images top patches are searched in: the dataset for the model that embeds it (its
    /// own domain), else the gallery photos.
    func patchImages(for ref: ChannelRef) throws -> (name: String, images: any ImageDataset) {
        if options.dataset != nil, ref.model.name == (options.projectorModel ?? options.models[0].name) {
            let d = try dataset()
            return ("dataset\(d.count)", d)
        }
        guard !options.photos.isEmpty else { throw ViewerError(.badRequest, "no images to search: start the server with --photos or --dataset") }
        return ("photos\(options.photos.count)", ImageFiles(options.photos))
    }

    func patchesFile(_ ref: ChannelRef) throws -> URL { ref.file(in: options.cache, "patches", try patchImages(for: ref).name) }

    func startTopPatches(_ ref: ChannelRef) throws -> Job {
        let file = try patchesFile(ref)
        let images = try patchImages(for: ref).images
        return jobs.start(kind: "patches", key: file.lastPathComponent) { job in
            if FileManager.default.fileExists(atPath: file.path) { return }
            let classifier = try ref.model.load()
            let found = try TopPatches.find(classifier, dataset: images, layer: ref.layer, channels: [ref.channel], k: 8, batch: 32,
                                            progress: { done, total in try? job.progress("patches of channel \(ref.channel) over \(total) images", done, total) },
                                            shouldStop: { job.isCancelled })
            var crops: [Int: Image] = [:]
            let grid = try found.grid({ i in
                if let c = crops[i] { return c }
                let c = classifier.preprocessing.crop(try images.image(at: i), mode: .center)
                crops[i] = c
                return c
            }, tile: 72)
            try Self.save(grid, to: file)
        }
    }

    /// The filter of one output channel of a convolution: one tile per input channel (at most 32),
    /// or one RGB tile for a first layer.
    func channelFilter(_ ref: ChannelRef) throws -> Image {
        let classifier = try classifier(ref.model.name)
        guard let weight = (classifier.module.module(at: ref.layer) as? ConvolutionWeighted)?.convolutionWeight, weight.rank == 4 else {
            throw ViewerError(.badRequest, "layer \(ref.layer): not a convolution, so it has no filters")
        }
        return FilterGrid.render(weight.slice(axis: 0, ref.channel..<(ref.channel + 1)), maxFilters: 1, maxInputs: 32, tile: 32)
    }

    static func save(_ image: Image, to file: URL) throws {
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try PNG.encode(image).write(to: file, options: .atomic)
    }
}
