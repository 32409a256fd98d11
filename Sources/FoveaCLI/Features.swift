import ArgumentParser
import Fovea
import FoveaFeatures
import FoveaIO
import FoveaNN
import Foundation

struct Filters: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw a convolution layer's filters as a grid.",
        discussion: """
        The first layer (default) is drawn in colour, one tile per filter (AlexNet 64x3x11x11,
        ResNet 64x3x7x7, EfficientNet-Lite0 32x3x3x3). Deeper layers are drawn as grayscale
        tiles, one row per filter and one tile per input channel. Each filter is scaled to its
        own range, symmetric about 0 (mid-gray), unless --shared-scale; small kernels are
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

    @Option(name: [.customShort("o"), .long], help: "Output PNG.")
    var output: String

    func run() throws {
        guard maxFilters >= 1 else { throw ValidationError("--max-filters must be at least 1") }
        let classifier = try model.load()
        let size = classifier.preprocessing.inputSize
        let path = try layer ?? FilterGrid.firstConvolution(of: classifier.module, input: [1, 3, size, size])
            ?? { throw FoveaError("--model \(classifier.spec.name): no convolution layer") }()
        guard let module = classifier.module.module(at: path) else {
            throw UnknownLayerError(name: path, available: classifier.module.namedModules().map(\.path).filter { !$0.isEmpty })
        }
        guard let conv = module as? Conv2d else {
            throw FoveaError("--layer \(path): a \(type(of: module)), not a convolution (see `fovea layers`)")
        }
        let image = FilterGrid.render(conv.weight, maxFilters: maxFilters, sharedScale: sharedScale)
        try image.save(path: output)
        print("\(path): weights \(conv.weight.shape.map(String.init).joined(separator: "x")) -> \(output) (\(image.width)x\(image.height))")
    }
}

struct Activations: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw a layer's feature maps for an image, strongest channels first.",
        discussion: """
        Channels are ranked by their mean activation; each tile is one channel in viridis,
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

    @Option(name: [.customShort("o"), .long], help: "Output PNG.")
    var output: String

    func validate() throws {
        guard top >= 1 else { throw ValidationError("--top must be at least 1") }
    }

    func run() throws {
        let classifier = try model.load()
        let x = try classifier.input(from: image, crop: crop).tensor
        let activations = try classifier.activations(x, layer: layer)
        let grid = activations.grid(top: top)
        try grid.save(path: output)
        let strongest = activations.ranking.prefix(5).map { "\($0.channel) (\(String(format: "%.3g", $0.mean)))" }
        print("\(layer): \(activations.maps.shape.map(String.init).joined(separator: "x")); strongest channels: \(strongest.joined(separator: ", ")) -> \(output)")
    }
}
