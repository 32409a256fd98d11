import ArgumentParser
import Fovea
import FoveaEmbedding
import FoveaFeatures
import FoveaIO
import FoveaNN
import Foundation

struct Filters: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw a convolution layer's filters as a grid.",
        discussion: """
        The first layer (default) is drawn in colour, one tile per filter (AlexNet 64x3x11x11, \
        ResNet 64x3x7x7, EfficientNet-Lite0 32x3x3x3). Deeper layers are drawn as grayscale \
        tiles, one row per filter and one tile per input channel. Each filter is scaled to its \
        own range, symmetric about 0 (mid-gray), unless --shared-scale; small kernels are \
        enlarged with nearest neighbour.

          fovea filters -o filters.png
          fovea filters --model resnet18 --weights resnet18.pth --layer layer1.0.conv1 -o l1.png
        """
    )

    @OptionGroup var model: ModelOptions

    @Option(name: .long, help: "A convolution layer (PyTorch module path); default: the first one.")
    var layer: String?

    @Flag(name: .long, help: "One colour scale for all filters instead of one per filter.")
    var sharedScale = false

    @Option(name: .long, help: "At most this many filters.")
    var maxFilters = 64

    @Option(name: [.customShort("o"), .long], help: "Output figure (.png, or .svg / .pdf for vector text).")
    var output: String

    func run() throws {
        guard maxFilters >= 1 else { throw ValidationError("--max-filters must be at least 1") }
        try checkWritable(output, flag: "-o")
        let classifier = try model.load()
        let size = classifier.preprocessing.inputSize
        let channels = classifier.preprocessing.channels
        let first = FilterGrid.firstConvolution(of: classifier.module, input: [1, channels, size, size])
        let path = try layer ?? first ?? { throw FoveaError("--model \(classifier.spec.name): no convolution layer with constant weights") }()
        guard let module = classifier.module.module(at: path) else {
            throw UnknownLayerError(name: path, in: classifier.module)
        }
        guard var weight = (module as? ConvolutionWeighted)?.convolutionWeight else {
            throw FoveaError("--layer \(path): a \(module.kindDescription) layer, not a convolution with constant weights (see `fovea layers`)")
        }
        // A BGR model's first filters, drawn in RGB.
        if path == first && weight.shape[1] == 3 && classifier.reversesInputChannels { weight = weight.reversed(axis: 1) }
        let image = FilterGrid.render(weight, maxFilters: maxFilters, sharedScale: sharedScale)
        try image.save(path: output)
        print("\(path): weights \(weight.shape.map(String.init).joined(separator: "x")) -> \(output) (\(image.width)x\(image.height))")
        let (filters, inputs) = (weight.shape[0], weight.shape[1])
        if filters > maxFilters { Notes.add("showing the first \(maxFilters) of \(filters) filters (--max-filters)") }
        if inputs != 3 && inputs > 16 { Notes.add("showing the first 16 of \(inputs) input channels of each filter") }
    }
}

struct Activations: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw a layer's feature maps for an image, strongest channels first.",
        discussion: """
        Channels are ranked by their mean activation; each tile is one channel in viridis, \
        scaled to its own range and labelled with its index.

          fovea activations chelsea.png --layer _blocks.5 --top 32 -o act.png
        """
    )

    @Argument(help: "Image file (PNG or JPEG).")
    var image: String

    @OptionGroup var model: ModelOptions

    @Option(name: .long, help: "Layer (PyTorch module path with a spatial output; see `fovea layers`).")
    var layer: String

    @Option(name: .long, help: "How many channels to draw.")
    var top = 64

    @Option(name: .long, help: "center: the model's own crop; none: resize the whole image.")
    var crop: CropMode = .center

    @Option(name: [.customShort("o"), .long], help: "Output figure (.png, or .svg / .pdf for vector text).")
    var output: String

    func validate() throws {
        guard top >= 1 else { throw ValidationError("--top must be at least 1") }
    }

    func run() throws {
        try checkWritable(output, flag: "-o")
        let classifier = try model.load()
        let x = try classifier.input(from: image, crop: crop).tensor
        let activations = try classifier.activations(x, layer: layer)
        let grid = activations.grid(top: top)
        try grid.save(path: output)
        let strongest = activations.ranking.prefix(5).map { "\($0.channel) (\(String(format: "%.3g", $0.mean)))" }
        print("\(layer): \(activations.maps.shape.map(String.init).joined(separator: "x")); strongest channels: \(strongest.joined(separator: ", ")) -> \(output)")
    }
}

struct TopPatchesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top-patches",
        abstract: "The dataset patches that excite a layer's channels most, cropped to their receptive field.",
        discussion: """
        One streaming pass over the images: per channel, the k images whose strongest unit is \
        highest, each cut to that unit's receptive field (computed exactly from the layer graph:
        kernel sizes, strides, paddings, dilations; gray where it extends past the image).

          fovea top-patches ~/.cache/fovea/photos --layer _blocks.10 --top-channels 6 --k 4 -o patches.png
          fovea top-patches images/ --layer layer4 --channels 3,17,42 --k 9 -o patches.png
          fovea top-patches fashion-mnist --model fashion-cnn --layer features.6 --top-channels 8 -o fm-patches.png
        """
    )

    @Argument(help: "Folder of images (class subfolders are fine), fashion-mnist[:split], or an IDX images file.")
    var dataset: String

    @Flag(name: .long, help: skipUnreadableHelp)
    var skipUnreadable = false

    @OptionGroup var model: ModelOptions

    @Option(name: .long, help: "Layer (PyTorch module path with a spatial output).")
    var layer: String

    @Option(name: .long, help: "Images per forward pass.")
    var batch = 16

    @Option(name: .long, help: "Comma-separated channel indices.")
    var channels: String?

    @Option(name: .long, help: "Without --channels: this many channels with the highest maxima.")
    var topChannels = 8

    @Option(name: .long, help: "Patches per channel.")
    var k = 9

    @Option(name: [.customShort("o"), .long], help: "Output figure (.png, or .svg / .pdf for vector text).")
    var output: String

    @Flag(name: .long, help: "Print JSON: per channel, each patch's image, activation and window.")
    var json = false

    @Option(name: .long, help: Shard.help)
    var shard: Shard?

    func run() throws {
        guard k >= 1, topChannels >= 1, batch >= 1 else { throw ValidationError("--k, --top-channels and --batch must be at least 1") }
        let list = try channels.map { text in
            guard !text.trimmingCharacters(in: .whitespaces).isEmpty else { throw FoveaError("--channels: empty; give channel numbers such as 3,17,42") }
            return try text.split(separator: ",").map { part -> Int in
                guard let c = Int(part.trimmingCharacters(in: .whitespaces)) else { throw FoveaError("--channels \(text): not a list of integers") }
                return c
            }
        }
        try checkWritable(output, flag: "-o", extensions: shard == nil ? Image.savedExtensions : ["json"])
        let classifier = try model.load()
        let data = try openDatasetNoting(dataset, skipUnreadable: skipUnreadable)
        let images = try shard?.rows(of: data.count, batch: batch, dataset: dataset) ?? 0..<data.count
        let scan = try TopPatches.Scan(classifier, dataset: data, images: images, layer: layer, channels: list, k: k,
                                       batch: batch, progress: ProgressBar(label: "top-patches").update)
        if let shard {
            try ShardJSON.write(PartialScan(scan), to: URL(fileURLWithPath: output))
            let settings = ["dataset": dataset, "model": classifier.spec.name, "layer": layer, "batch": String(batch),
                            "channels": channels ?? "", "top-channels": String(topChannels), "k": String(k),
                            "skip-unreadable": String(skipUnreadable)]
            try ShardManifest(command: "top-patches", shard: shard.index, of: shard.count, rows: [images.lowerBound, images.upperBound],
                              total: data.count, settings: settings, files: ["output": output]).write(beside: output)
            print("shard \(shard.index) of \(shard.count): images \(images.lowerBound)..<\(images.upperBound) of \(data.count) -> \(output)")
            return
        }
        let result = TopPatches(layer: layer, field: scan.field, hits: scan.chosen(channels: list, topChannels: topChannels))
        try Self.report(result, classifier: classifier, data: data, k: k, output: output, json: json)
    }

    /// The single run's output, also written by `fovea merge` from the shards' scans: the grid
    /// at `output`, and the summary (or JSON) on stdout.
    static func report(_ result: TopPatches, classifier: ImageClassifier, data: any ImageDataset, k: Int, output: String, json: Bool) throws {
        let layer = result.layer
        var crops: [Int: Image] = [:]
        let grid = try result.grid { i in
            if let c = crops[i] { return c }
            let c = classifier.preprocessing.crop(try data.image(at: i), mode: .center)
            crops[i] = c
            return c
        }
        try grid.save(path: output)
        let f = result.field
        if json {
            struct Patch: Encodable { let image: String; let activation: Float; let y: Int; let x: Int; let height: Int; let width: Int }
            struct Channel: Encodable { let channel: Int; let patches: [Patch] }
            struct Report: Encodable { let layer: String; let receptiveField: Int; let stride: Int; let images: Int; let channels: [Channel]; let output: String }
            return try printJSON(Report(layer: layer, receptiveField: f.size.h, stride: f.jump.h, images: data.count, channels: result.hits.map { c in
                Channel(channel: c.channel, patches: c.hits.map { Patch(image: data.name(at: $0.image), activation: $0.value, y: $0.window.y, x: $0.window.x,
                                                                     height: $0.window.height, width: $0.window.width) })
            }, output: output))
        }
        print("\(layer): receptive field \(f.size.h)x\(f.size.w) px, stride \(f.jump.h); \(result.hits.count) channels x \(k) patches from \(data.count) images -> \(output)")
    }
}
