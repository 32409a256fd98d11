import ArgumentParser
import Fovea
import FoveaIO
import FoveaSynthesis
import FoveaTensor
import Foundation

struct Invert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Feature inversion: the image whose features at a layer match a photo's.",
        discussion: """
        Mahendran & Vedaldi 2015: x* = argmin ||Phi(x) - Phi0||^2 / ||Phi0||^2 + lambda \
        R_TV^beta(x), from noise, where Phi0 are the photo's features at --layer (on the crop \
        the network sees). Prints the relative feature error and the PSNR against the crop. \
        --layers a,b,c draws the lecture's row: the crop, then a reconstruction from each layer.

          fovea invert photo.jpg --layer _blocks.2 -o inverted.png
          fovea invert photo.jpg --layers _blocks.1,_blocks.4,_blocks.8,_blocks.12,_blocks.15 -o row.png
        """
    )

    @Argument(help: "Photo (PNG or JPEG).")
    var image: String

    @OptionGroup var model: ModelOptions
    @OptionGroup var options: SynthesisOptions

    @Option(name: .long, help: "Layer whose features are matched.")
    var layer: String?

    @Option(name: .long, help: "Several layers, comma-separated: one reconstruction each, in a row.")
    var layers: String?

    @Option(name: .long, help: "Total-variation weight lambda.")
    var tv: Float = 0.05

    @Option(name: .long, help: "Total-variation exponent beta.")
    var tvBeta: Float = 2

    @Option(name: .long, help: "fft (Fourier with colour decorrelation: sharper, closer reconstructions) or pixel.")
    var param: ParamKind = .fft

    @Option(name: .long, help: "Random transforms while matching (none by default; see `fovea visualize --help`).")
    var transforms = "none"

    func validate() throws {
        if let steps = options.steps, steps <= 0 { throw FoveaError("--steps \(steps): must be at least 1") }
        if let lr = options.lr, !(lr.isFinite && lr > 0) { throw FoveaError("--lr \(lr): must be a positive number") }
        if (layer == nil) == (layers == nil) { throw FoveaError("give --layer L or --layers a,b,c") }
        if !(tv.isFinite && tv >= 0) { throw FoveaError("--tv \(tv): must be a number >= 0") }
        if !(tvBeta.isFinite && tvBeta > 0) { throw FoveaError("--tv-beta \(tvBeta): must be a positive number") }
        if param == .maco { throw FoveaError("--param maco: inversion takes pixel or fft") }
    }

    struct Row: Encodable { let layer: String; let relativeError: Float; let psnr: Float; let stepsPerSecond: Double }

    func run() throws {
        try options.checkOutput()
        let classifier = try model.load()
        let synthesizer = Synthesizer(classifier)
        let (crop, _) = try classifier.input(from: image)
        let photo = crop.toTensor(scale: 1 / 255, channels: classifier.preprocessing.channels)
        let names = layer.map { [$0] } ?? layers!.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        var settings = SynthesisSettings()
        settings.steps = options.steps ?? 400
        settings.learningRate = options.lr ?? (options.optimizer == .lbfgs ? 1 : 0.05)
        settings.optimizer = options.optimizer
        settings.seed = options.seed
        settings.transforms = ImageTransform.scaled(try ImageTransform.parse(transforms), toSize: photo.shape[2])
        settings.redirectedReLUSteps = 0
        var targets: [Tensor] = []
        for name in names { targets.append(try FeatureInversion.features(of: photo, layer: name, with: synthesizer)) }
        var rows: [Row] = [], tiles = [synthesisImage(photo, minimum: 160)], captions = ["original"]
        for (name, target) in zip(names, targets) {
            let objective = FeatureInversion.objective(layer: name, target: target, tv: tv, beta: tvBeta)
            let result = try Visualize.optimise(objective, synthesizer: synthesizer, settings: settings, param: param, shape: photo.shape,
                                                decorrelate: param == .fft, range: .sigmoid, octaves: 1, label: "invert \(name)")
            let error = try FeatureInversion.relativeError(of: result.image, layer: name, target: target, with: synthesizer)
            let psnr = FeatureInversion.psnr(result.image, photo)
            rows.append(Row(layer: name, relativeError: error, psnr: psnr, stepsPerSecond: result.stepsPerSecond))
            tiles.append(synthesisImage(result.image, minimum: 160))
            captions.append(String(format: "%@\nerr %.3f", name, error))
        }
        let picture = names.count == 1 ? tiles[1] : captionedGrid(tiles, captions: captions, columns: tiles.count)
        try picture.save(path: options.output)
        if options.json { try printJSON(rows); return }
        for row in rows {
            print(String(format: "%@: relative feature error %.4f, PSNR %.1f dB against the crop (%d steps)", row.layer, row.relativeError, row.psnr, settings.steps))
        }
        print("-> \(options.output)")
    }
}
