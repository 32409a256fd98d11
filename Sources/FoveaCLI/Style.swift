import ArgumentParser
import Fovea
import FoveaIO
import FoveaStyle
import FoveaSynthesis
import FoveaTensor
import Foundation

extension FeatureTransform: ExpressibleByArgument {}
extension StyleStart: ExpressibleByArgument {}

/// The backbone of the texture and style commands: vgg16-features unless told otherwise.
struct BackboneOptions: ParsableArguments {
    @Option(name: .long, help: "Backbone (see `fovea models`): vgg16-features (the papers' network), or any model Fovea loads, e.g. efficientnet-lite0 with --feature-transform softmax.")
    var model = "vgg16-features"

    @Option(name: .long, help: "Weights file for --model (default: the model's fetched weights).")
    var weights: String?

    @Option(name: .long, help: ArgumentHelp("An ONNX or Keras .h5 backbone instead of --model (layers: its node output or layer names).", valueName: "file"))
    var modelFile: String?

    @Option(name: .long, help: "none, or softmax: SWAG's softmax over each layer's activations (Wang et al. 2021), which makes residual and efficient networks stylise.")
    var featureTransform: FeatureTransform = .none

    func load() throws -> Synthesizer {
        var arguments = ["--model", model]
        if let weights { arguments += ["--weights", weights] }
        if let modelFile { arguments += ["--model-file", modelFile] }
        return Synthesizer(try ModelOptions.parse(arguments).load())
    }
}

/// Optimisation options of the texture and style commands.
struct StyleOptimisationOptions: ParsableArguments {
    @Option(name: .long, help: "Optimisation steps (L-BFGS iterations; per stage with several --size values).")
    var steps: Int?

    @Option(name: .long, help: "lbfgs (the papers' choice), adam or sgd.")
    var optimizer: OptimizerKind = .lbfgs

    @Option(name: .long, help: "Learning rate (L-BFGS: the first trial step, 1; Adam: in 0..1 pixel units, default 0.02).")
    var lr: Float?

    @Option(name: .long, help: "Curvature pairs L-BFGS keeps (memory: 2 x this x the pixel count).")
    var history = 20

    @Option(name: .long, help: "Seed of the noise: the same seed gives the same image.")
    var seed: UInt64 = 0

    @Flag(name: .long, help: "Print a JSON report instead of text.")
    var json = false

    @Option(name: [.short, .customLong("output")], help: "Output image (.png or .jpg).")
    var output: String

    func settings(defaultSteps: Int) throws -> SynthesisSettings {
        let steps = self.steps ?? defaultSteps
        guard steps > 0 else { throw FoveaError("--steps \(steps): must be at least 1") }
        if let lr, !(lr.isFinite && lr > 0) { throw FoveaError("--lr \(lr): must be a positive number") }
        guard (1...1000).contains(history) else { throw FoveaError("--history \(history): must be 1 to 1000") }
        var s = SynthesisSettings()
        s.steps = steps
        s.optimizer = optimizer
        s.learningRate = lr ?? (optimizer == .lbfgs ? 1 : 0.02)
        s.transforms = []
        s.redirectedReLUSteps = 0
        s.lbfgsHistory = history
        s.seed = seed
        return s
    }
}

/// "a,b,c" as trimmed non-empty names.
func parseNames(_ text: String) -> [String] {
    text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
}

/// The weights of `count` style images: `text` ("0.7,0.3") or equal weights; one line naming
/// --style-weights when their number differs or they are negative or all zero.
func parseStyleWeights(_ text: String?, count: Int) throws -> [Float] {
    let weights = try text.map { try ModelOptions.parseList($0, "--style-weights") } ?? Array(repeating: 1, count: count)
    guard weights.count == count else { throw FoveaError("--style-weights: \(weights.count) weights for \(count) style images") }
    guard weights.allSatisfy({ $0 >= 0 }), weights.contains(where: { $0 > 0 }) else {
        throw FoveaError("--style-weights \(text ?? ""): weights must be >= 0 and not all zero")
    }
    return weights
}

/// Reads an image file or fails with one line naming the argument.
func readImage(_ path: String, argument: String) throws -> Image {
    guard FileManager.default.fileExists(atPath: path) else { throw FoveaError("\(argument) \(path): file not found") }
    do { return try Image.load(path: path) } catch { throw FoveaError("\(argument) \(path): cannot read the image (\(error))") }
}

struct Style: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Neural style transfer (Gatys et al.): a photo redrawn in a painting's style.",
        discussion: """
        Minimises L = beta 1/2 |F(x) - F(c)|^2 at --content-layer + alpha sum_l w_l E_l(x, s), \
        E_l = 1/(4 N_l^2 M_l^2) |G_l(x) - G_l(s)|^2 with Gram matrices G = F F^T over the style \
        layers, on the pixels of x, by L-BFGS, starting from the content photo. Layer names: \
        convB_I (before ReLU), reluB_I, poolB; Keras' block4_conv1 = relu4_1. Gatys' "conv4_2" \
        is relu4_2 here (Caffe's ReLUs work in place).

        Several --size values run coarse to fine: each stage starts from the last result, \
        upsampled, so a 1024-pixel result costs little more than its last stage.

          fovea style photo.jpg scream.jpg -o styled.png
          fovea style photo.jpg scream.jpg --size 256,512,1024 --steps 100 -o big.png
          fovea style photo.jpg a.jpg b.jpg --style-weights 0.7,0.3 --preserve-color -o mix.png
          fovea style photo.jpg scream.jpg --model efficientnet-lite0 --feature-transform softmax \\
              --style-layers _blocks.0,_blocks.2,_blocks.4,_blocks.8 --content-layer _blocks.8 -o swag.png
        """
    )

    @Argument(help: "Content photo (PNG or JPEG).")
    var content: String

    @Argument(help: "Style image(s).")
    var styles: [String]

    @OptionGroup var backbone: BackboneOptions
    @OptionGroup var optimisation: StyleOptimisationOptions

    @Option(name: .long, help: "Style weight alpha (the content weight is --content-weight).")
    var alpha: Float = 1e3

    @Option(name: .long, help: "Content weight beta.")
    var contentWeight: Float = 1

    @Option(name: .long, help: "The result's longer side in pixels; several (256,512,1024) run coarse to fine.")
    var size = "512"

    @Option(name: .long, help: "content, noise or style: where the optimisation starts.")
    var start: StyleStart = .content

    @Flag(name: .long, help: "Transfer the style's luminance patterns only and keep the photo's colours.")
    var preserveColor = false

    @Option(name: .long, help: "The style image's size relative to the result (2: brush strokes twice as large).")
    var styleScale: Float = 1

    @Option(name: .long, help: "Weights of several style images, comma-separated (default equal).")
    var styleWeights: String?

    @Option(name: .long, help: "Style layers, comma-separated.")
    var styleLayers = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1"

    @Option(name: .long, help: "Weights of the style layers (default 1/L each).")
    var layerWeights: String?

    @Option(name: .long, help: "Content layer.")
    var contentLayer = "relu4_2"

    struct Report: Encodable {
        let loss: Float, contentLoss: Float, styleLoss: Float, evaluations: Int, seconds: Double
        let width: Int, height: Int, output: String
    }

    func run() throws {
        try checkWritable(optimisation.output, flag: "-o")
        let sizes = try size.split(separator: ",").map { part -> Int in
            guard let v = Int(part.trimmingCharacters(in: .whitespaces)), (16...8192).contains(v) else {
                throw FoveaError("--size \(size): expected sizes of 16 to 8192 pixels, comma-separated")
            }
            return v
        }
        guard !styles.isEmpty else { throw FoveaError("give at least one style image after the content photo") }
        let weights = try parseStyleWeights(styleWeights, count: styles.count)
        let names = parseNames(styleLayers)
        let layers = try layerWeights.map { try StyleLayers(names, weights: ModelOptions.parseList($0, "--layer-weights")) } ?? StyleLayers(names)
        let contentImage = try readImage(content, argument: "content")
        let styleImages = try styles.map { try readImage($0, argument: "style") }

        var settings = StyleTransferSettings()
        settings.synthesis = try optimisation.settings(defaultSteps: 300)
        settings.alpha = alpha
        settings.contentWeight = contentWeight
        settings.sizes = sizes
        settings.start = start
        settings.preserveColor = preserveColor
        settings.styleScale = styleScale
        settings.styleLayers = layers
        settings.contentLayer = contentLayer
        settings.transform = backbone.featureTransform
        let synthesizer = try backbone.load()
        let bar = ProgressBar(label: "style")
        let result = try StyleTransfer.run(content: contentImage, styles: Array(zip(styleImages, weights)).map { ($0.0, $0.1) },
                                           settings: settings, with: synthesizer) { p in
            bar.update(p.step, p.steps, status: String(format: "stage %d/%d %dpx  content %.4g  style %.4g",
                                                       p.stage, p.stages, p.size, p.contentLoss, p.styleLoss))
        }
        try StyleImages.image(result.image).save(path: optimisation.output)
        let report = Report(loss: result.loss, contentLoss: result.contentLoss, styleLoss: result.styleLoss, evaluations: result.evaluations,
                            seconds: result.seconds, width: result.image.shape[3], height: result.image.shape[2], output: optimisation.output)
        if optimisation.json { try printJSON(report, pretty: false); return }
        print(String(format: "loss %.6g = content %.6g + style %.6g (%d evaluations, %.1f s)", result.loss, result.contentLoss,
                     result.styleLoss, result.evaluations, result.seconds))
        print("-> \(optimisation.output) (\(report.width)x\(report.height))")
    }
}
