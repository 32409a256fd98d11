import ArgumentParser
import Fovea
import FoveaIO
import FoveaNN
import FoveaStyle
import FoveaSynthesis
import FoveaTensor
import Foundation

struct Texture: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Texture synthesis with Gram matrices (Gatys et al. 2015): a new image of the same stuff.",
        discussion: """
        From noise, minimises sum_l w_l E_l, E_l = 1/(4 N_l^2 M_l^2) |G_l(x) - G_l(s)|^2, where \
        G = F F^T are the Gram matrices of the layers' features (N channels, M positions): the \
        image keeps the photo's local statistics and loses its layout. The deeper the layers, \
        the larger the structures kept: --layer-sweep draws the lecture's figure, the texture \
        matched up to conv1_1, pool1, pool2, pool3 and pool4.

        Prints the final style loss beside that of two random crops of the style image itself \
        at the same size (a synthesis at or below it matches as well as the photo matches itself).

          fovea texture bricks.jpg -o texture.png
          fovea texture bricks.jpg --layer-sweep --size 192 -o sweep.png
        """
    )

    @Argument(help: "The texture photo (PNG or JPEG).")
    var style: String

    @OptionGroup var backbone: BackboneOptions
    @OptionGroup var optimisation: StyleOptimisationOptions

    @Option(name: .long, help: "Layers whose Gram matrices are matched, comma-separated.")
    var layers = "relu1_1,pool1,pool2,pool3,pool4"

    @Option(name: .long, help: "Their weights (default 1/L each).")
    var layerWeights: String?

    @Option(name: .long, help: "Output size in pixels (square).")
    var size = 256

    @Option(name: .long, help: "The style photo's longer side before its statistics are taken (default: --size x 1.5, so crops fit).")
    var styleSize: Int?

    @Flag(name: .long, help: "The lecture's figure: the photo, then the texture matched up to conv1_1, pool1, pool2, pool3 and pool4.")
    var layerSweep = false

    struct Row: Encodable { let layers: [String]; let styleLoss: Float; let cropBaseline: Float?; let seconds: Double }

    func run() throws {
        try checkWritable(optimisation.output, flag: "-o")
        guard (16...4096).contains(size) else { throw FoveaError("--size \(size): must be 16 to 4096 pixels") }
        if let styleSize, !(16...8192).contains(styleSize) { throw FoveaError("--style-size \(styleSize): must be 16 to 8192 pixels") }
        let settings = try optimisation.settings(defaultSteps: 200)
        let photo = try readImage(style, argument: "style")
        let synthesizer = try backbone.load()
        let styleTensor = StyleImages.tensor(of: photo, longSide: styleSize ?? size * 3 / 2)
        let sets: [(label: String, layers: StyleLayers)]
        if layerSweep {
            sets = TextureSynthesis.sweep.map { ($0.label, StyleLayers($0.layers)) }
        } else {
            let names = parseNames(layers)
            guard !names.isEmpty else { throw FoveaError("--layers: give at least one layer") }
            sets = [(names.joined(separator: ","), try layerWeights.map { try StyleLayers(names, weights: ModelOptions.parseList($0, "--layer-weights")) } ?? StyleLayers(names))]
        }
        for set in sets {
            for layer in set.layers.names where synthesizer.module.module(at: layer) == nil {
                throw UnknownLayerError(name: layer, in: synthesizer.module)
            }
        }
        var rows: [Row] = [], tiles: [Image] = [StyleImages.image(StyleImages.resized(styleTensor, longSide: size))], captions = ["texture photo"]
        for (label, set) in sets {
            let targets = try GramTargets(styles: [(styleTensor, 1)], layers: set, transform: backbone.featureTransform, with: synthesizer)
            let bar = ProgressBar(label: "texture \(label)")
            let start = Date()
            let result = try TextureSynthesis.synthesize(targets, height: size, width: size, settings: settings, with: synthesizer) { p in
                bar.update(p.step, p.steps, status: String(format: "style loss %.4g", -p.objective))
            }
            let image = clampedToUnit(result.image)
            let loss = try -synthesizer.evaluate(TextureSynthesis.objective(targets), image: image)
            let baseline = try? TextureSynthesis.cropBaseline(style: styleTensor, size: size, layers: set, with: synthesizer, seed: optimisation.seed)
            rows.append(Row(layers: set.names, styleLoss: loss, cropBaseline: baseline, seconds: Date().timeIntervalSince(start)))
            tiles.append(StyleImages.image(image))
            captions.append("up to \(label.split(separator: ",").last.map(String.init) ?? label)")
        }
        let picture = layerSweep ? captionedGrid(tiles, captions: captions, columns: tiles.count) : tiles[1]
        try picture.save(path: optimisation.output)
        if optimisation.json { try printJSON(rows, pretty: false); return }
        for row in rows {
            let bar = row.cropBaseline.map { String(format: " (two crops of the photo: %.4g)", $0) } ?? ""
            print(String(format: "%@: style loss %.4g%@, %.1f s", row.layers.joined(separator: ","), row.styleLoss, bar, row.seconds))
        }
        print("-> \(optimisation.output)")
    }
}
