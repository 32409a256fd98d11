import ArgumentParser
import Fovea
import FoveaAttribution
import FoveaIO
import Foundation

struct Saliency: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Which pixels drove a prediction: occlusion, gradients, CAM, Grad-CAM and more.",
        discussion: """
        occlusion             Zeiler & Fergus 2014: target probability with a --window
                              patch of --value slid by --stride (batched with
                              --batch).
        gradient              Simonyan et al. 2014: |d logit / d pixel|, max over
                              channels.
        guided-backprop       Springenberg et al. 2015: ReLUs pass back positive
                              gradients only.
        smoothgrad            Smilkov et al. 2017: gradient averaged over --samples
                              noisy copies (--noise, fraction of the input range).
        integrated-gradients  Sundararajan et al. 2017: (x - x') * mean gradient on
                              the path from --ig-baseline in --steps; reports the
                              completeness error.
        cam                   Zhou et al. 2016: the classifier's weights over the last
                              features (networks ending in global average pooling +
                              one linear layer).
        gradcam               Selvaraju et al. 2017, at any spatial layer (--layer):
                              ReLU(sum_k mean(dS/dA_k) A_k).
        guided-gradcam        guided backprop x upsampled Grad-CAM.
        gradcam++             Chattopadhyay et al. 2018: second-order channel weights.
        scorecam              Wang et al. 2020: channel weights from masked-input
                              scores.
        The target class is the top-1 prediction unless --target names an index or a label. \
        Every map is scored for faithfulness (Petsiuk et al. 2018): deletion AUC (probability \
        as the most salient pixels are replaced by a blurred or zero baseline; lower is better) \
        and insertion AUC (the reverse; higher is better). \
        Maps refer to the crop the network sees. --npy writes the raw map (float32, \
        unnormalised): H x W of the input for gradient, the layer's size for cam/gradcam.

          fovea saliency chelsea.png --method gradcam --layer _blocks.15 -o cam.png
          fovea saliency chelsea.png --method gradient --target "Egyptian cat" --npy grad.npy
          fovea saliency chelsea.png --method occlusion --window 32 --stride 16 -o occ.png
        """
    )

    @Argument(help: "Image file (PNG or JPEG).")
    var image: String

    @Option(name: .long, help: "\(AttributionMethod.allCases.map(\.rawValue).joined(separator: ", ")).")
    var method: AttributionMethod

    @OptionGroup var model: ModelOptions

    @Option(name: .long, help: "Layer for the CAM family (a PyTorch module path; default: the model's last block, e.g. _blocks.15).")
    var layer: String?

    @Option(name: .long, help: "occlusion: patch size in pixels (default: input size / 7, 32 at 224).")
    var window: Int?

    @Option(name: .long, help: "occlusion: step between patches in pixels (default: window / 2).")
    var stride: Int?

    @Option(name: .long, help: "occlusion: patch value in the model's input space (0 = the mean colour).")
    var value: Float = 0

    @Option(name: .long, help: "occlusion, scorecam, integrated-gradients: images per forward pass (memory grows with it; default 4, integrated-gradients 1).")
    var batch: Int?

    @Flag(name: .long, help: "SmoothGrad around gradient, guided-backprop or integrated-gradients: average over --samples noisy copies.")
    var smooth = false

    @Option(name: .long, help: "smoothgrad / --smooth: noisy samples.")
    var samples = 25

    @Option(name: .long, help: "smoothgrad: noise standard deviation as a fraction of the input range.")
    var noise: Float = 0.15

    @Option(name: .long, help: "integrated-gradients: steps on the path.")
    var steps = 50

    @Option(name: .long, help: "integrated-gradients: the starting point, zero or blur.")
    var igBaseline: Faithfulness.Baseline = .zero

    @Option(name: .long, help: "integrated-gradients: gauss-legendre (Captum's default) or trapezoid.")
    var quadrature: Quadrature = .gaussLegendre

    @Option(name: .long, help: "Class index or label (default: the top-1 class).")
    var target: String?

    @Flag(name: .long, help: "gradient, guided-backprop, guided-gradcam, smoothgrad: keep the sign of the strongest channel.")
    var signed = false

    @Option(name: .long, help: "center: the model's own crop; none: resize the whole image.")
    var crop: CropMode = .center

    @Option(name: [.customShort("o"), .long], help: "Write the map overlaid on the crop, with a colour bar, to this file (.png, or .svg / .pdf for vector text).")
    var output: String?

    @Option(name: .long, help: "Colour map: jet, viridis, inferno, turbo, gray, or coolwarm (diverging). Default: jet, and coolwarm centred at 0 for signed maps (--signed, Integrated Gradients).")
    var cmap: Colormap?

    @Option(name: .long, help: "Write the raw map as a float32 .npy.")
    var npy: String?

    @Flag(name: .long, help: "Print JSON (target, label, probability, map size and range, faithfulness).")
    var json = false

    @Option(name: .long, help: "What deleted pixels become in the faithfulness scores: blur (Gaussian, sigma 5) or zero.")
    var baseline: Faithfulness.Baseline = .blur

    @Flag(name: .long, help: "Skip the deletion/insertion scores (2 x 33 extra forward passes).")
    var noFaithfulness = false

    @Flag(name: .long, help: "Model-parameter randomisation test (Adebayo et al. 2018): randomise layers from the top down and report the rank correlation of each step's map with the original. With -o, also draws every step's map into NAME-sanity.EXT (-o's format).")
    var sanity = false

    func validate() throws {
        if layer != nil && !method.isLayerMethod {
            throw ValidationError("--layer applies to gradcam, gradcam++, scorecam and guided-gradcam only")
        }
        if signed && ![.gradient, .guidedBackprop, .guidedGradcam, .smoothgrad].contains(method) {
            throw ValidationError("--signed applies to gradient, guided-backprop, guided-gradcam and smoothgrad only")
        }
        if smooth && ![.gradient, .guidedBackprop, .integratedGradients].contains(method) {
            throw ValidationError("--smooth applies to gradient, guided-backprop and integrated-gradients only")
        }
        if let batch, batch < 1 { throw ValidationError("--batch must be at least 1") }
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1") }
        guard samples >= 1 else { throw ValidationError("--samples must be at least 1") }
        guard noise >= 0 else { throw ValidationError("--noise must not be negative") }
        guard (window ?? 1) >= 1 && (stride ?? 1) >= 1 else { throw ValidationError("--window and --stride must be at least 1") }
    }

    struct Report: Codable {
        let file: String, method: String, layer: String?
        let target: Int, label: String, probability: Float
        let height: Int, width: Int, min: Float, max: Float
        let faithfulness: Faithfulness?
        /// Integrated Gradients: sum(attr) - (S(x) - S(baseline)), and S(x) - S(baseline).
        let completenessError: Float?, scoreDifference: Float?
        let sanity: [SanityStep]?
    }

    func run() throws {
        if let output { try checkWritable(output, flag: "-o") }
        let sanityFigure = output.flatMap { sanity ? siblingPath($0, suffix: "sanity") : nil }
        if let sanityFigure { try checkWritable(sanityFigure, flag: "-o (its -sanity file)") }
        if let npy { try checkWritable(npy, flag: "--npy", extensions: ["npy"]) }
        let classifier = try model.load(needsClassifier: true)
        let (cropImage, x) = try classifier.input(from: image, crop: crop)
        let prediction = classifier.predict(x)
        let targetIndex = try target.map { try classifier.labels.resolve($0) }
            ?? prediction.top(1)[0].index
        var options = AttributionOptions(inputSize: classifier.preprocessing.inputSize)
        options.layer = layer
        options.signed = signed
        if let window { (options.window, options.stride) = (window, max(1, window / 2)) }
        if let stride { options.stride = stride }
        (options.value, options.batch) = (value, batch)
        (options.samples, options.noise, options.smooth) = (samples, noise, smooth)
        (options.steps, options.integrationBaseline, options.quadrature) = (steps, igBaseline, quadrature)
        let result = try classifier.attribute(method, input: x, target: targetIndex, options: options,
                                              progress: ProgressBar(label: method.rawValue).update)
        let (map, integrated) = (result.map, result.integrated)
        let faithfulness = noFaithfulness ? nil : classifier.faithfulness(of: map, input: x, baseline: baseline)
        let sanityResult = sanity ? try classifier.sanityCheck(method, input: x, target: targetIndex, options: options,
                                                               progress: ProgressBar(label: "sanity").update) : nil
        let sanitySteps = sanityResult?.steps
        let label = classifier.labels.short(targetIndex)
        let probability = prediction.probabilities[targetIndex]
        // Everything is computed; only now write files.
        if let npy { try NPY.write(map.tensor, to: URL(fileURLWithPath: npy)) }
        if let output {
            let caption = "\(method.rawValue): \(label) \(String(format: "%.3f", probability))"
            try SaliencyFigure.render(crop: cropImage, map: map, caption: caption, colormap: cmap).save(path: output)
        }
        if let sanityFigure, let sanityResult {
            try SanityFigure.render(crop: cropImage, original: sanityResult.original, steps: sanityResult.steps, method: method.rawValue,
                                    colormap: cmap).save(path: sanityFigure)
        }
        let report = Report(file: image, method: method.rawValue, layer: map.layer, target: targetIndex,
                            label: label, probability: probability, height: map.height, width: map.width,
                            min: map.values.min() ?? 0, max: map.values.max() ?? 0, faithfulness: faithfulness,
                            completenessError: integrated?.completenessError, scoreDifference: integrated?.scoreDifference,
                            sanity: sanitySteps)
        if json {
            try printJSON(report)
        } else {
            print("\(method.rawValue)\(map.layer.map { " at \($0)" } ?? "") for \(targetIndex) \(label) (p = \(String(format: "%.3f", probability))): \(map.height)x\(map.width) map, range \(report.min) ... \(report.max)")
            if let ig = integrated {
                print(String(format: "completeness: sum of attributions - (S(x) - S(baseline)) = %.4g (S(x) - S(baseline) = %.4g)",
                             ig.completenessError, ig.scoreDifference))
            }
            if let sanitySteps {
                print("sanity check (cascading randomisation, top down): Spearman rank correlation with the original map")
                for step in sanitySteps { print("  up to \(step.layer.rightPad(24)) \(String(format: "%+.3f", step.spearman))") }
            }
            if let f = faithfulness {
                print(String(format: "faithfulness (%@ baseline): deletion AUC %.3f (lower is better), insertion AUC %.3f (higher is better)",
                             f.baseline.rawValue, f.deletionAUC, f.insertionAUC))
            }
        }
    }
}

extension AttributionMethod: ExpressibleByArgument {}
extension Faithfulness.Baseline: ExpressibleByArgument {}
extension Quadrature: ExpressibleByArgument {}

extension Colormap: ExpressibleByArgument {}
