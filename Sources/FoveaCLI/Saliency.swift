import ArgumentParser
import Fovea
import FoveaAttribution
import FoveaIO
import Foundation

struct Saliency: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Which pixels drove a prediction: gradient saliency, CAM or Grad-CAM.",
        discussion: """
        gradient  Simonyan et al. 2014: |d logit / d pixel|, max over colour channels.
        cam       Zhou et al. 2016: the classifier's weights over the last features
                  (networks ending in global average pooling + one linear layer).
        gradcam   Selvaraju et al. 2017, at any layer with a spatial output (--layer):
                  ReLU(sum_k mean(dS/dA_k) A_k).
        The target class is the top-1 prediction unless --target names an index or a label.
        Every map is scored for faithfulness (Petsiuk et al. 2018): deletion AUC (probability
        as the most salient pixels are replaced by a blurred or zero baseline; lower is better)
        and insertion AUC (the reverse; higher is better).
        Maps refer to the crop the network sees. --npy writes the raw map (float32,
        unnormalised): H x W of the input for gradient, the layer's size for cam/gradcam.

          fovea saliency chelsea.png --method gradcam --layer _blocks.15 -o cam.png
          fovea saliency chelsea.png --method gradient --target "Egyptian cat" --npy grad.npy
        """
    )

    @Argument(help: "Image file (PNG or JPEG).")
    var image: String

    @Option(name: .long, help: "gradient, cam or gradcam.")
    var method: AttributionMethod

    @OptionGroup var model: ModelOptions

    @Option(name: .long, help: "Layer for gradcam (a PyTorch module path; default: the model's last block, e.g. _blocks.15).")
    var layer: String?

    @Option(name: .long, help: "Class index or label (default: the top-1 class).")
    var target: String?

    @Flag(name: .long, help: "gradient: keep the sign of the strongest channel's gradient.")
    var signed = false

    @Option(name: .long, help: "center: the model's own crop; none: resize the whole image.")
    var crop: CropMode = .center

    @Option(name: [.customShort("o"), .long], help: "Write the map overlaid on the crop, with a colour bar, to this PNG.")
    var output: String?

    @Option(name: .long, help: "Write the raw map as a float32 .npy.")
    var npy: String?

    @Flag(name: .long, help: "Print JSON (target, label, probability, map size and range, faithfulness).")
    var json = false

    @Option(name: .long, help: "What deleted pixels become in the faithfulness scores: blur (Gaussian, sigma 5) or zero.")
    var baseline: Faithfulness.Baseline = .blur

    @Flag(name: .long, help: "Skip the deletion/insertion scores (2 x 33 extra forward passes).")
    var noFaithfulness = false

    func validate() throws {
        if layer != nil && method != .gradcam { throw ValidationError("--layer applies to --method gradcam only") }
        if signed && method != .gradient { throw ValidationError("--signed applies to --method gradient only") }
    }

    struct Report: Codable {
        let file: String, method: String, layer: String?
        let target: Int, label: String, probability: Float
        let height: Int, width: Int, min: Float, max: Float
        let faithfulness: Faithfulness?
    }

    func run() throws {
        let classifier = try model.load()
        let (cropImage, x) = try classifier.input(from: image, crop: crop)
        let prediction = classifier.predict(x)
        let targetIndex = try target.map { try classifier.labels.resolve($0) }
            ?? prediction.top(1)[0].index
        let map: SaliencyMap
        switch method {
        case .gradient: map = try classifier.gradientSaliency(x, target: targetIndex, signed: signed)
        case .cam: map = try classifier.cam(x, target: targetIndex)
        case .gradcam: map = try classifier.gradCAM(x, target: targetIndex, layer: layer ?? classifier.spec.camLayer)
        }
        let faithfulness = noFaithfulness ? nil : classifier.faithfulness(of: map, input: x, baseline: baseline)
        let label = classifier.labels.short(targetIndex)
        let probability = prediction.probabilities[targetIndex]
        // Everything is computed; only now write files.
        if let npy { try NPY.write(map.tensor, to: URL(fileURLWithPath: npy)) }
        if let output {
            let caption = "\(method.rawValue): \(label) \(String(format: "%.3f", probability))"
            try SaliencyFigure.render(crop: cropImage, map: map, caption: caption).save(path: output)
        }
        let report = Report(file: image, method: method.rawValue, layer: map.layer, target: targetIndex,
                            label: label, probability: probability, height: map.height, width: map.width,
                            min: map.values.min() ?? 0, max: map.values.max() ?? 0, faithfulness: faithfulness)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print("\(method.rawValue)\(map.layer.map { " at \($0)" } ?? "") for \(targetIndex) \(label) (p = \(String(format: "%.3f", probability))): \(map.height)x\(map.width) map, range \(report.min) ... \(report.max)")
            if let f = faithfulness {
                print(String(format: "faithfulness (%@ baseline): deletion AUC %.3f (lower is better), insertion AUC %.3f (higher is better)",
                             f.baseline.rawValue, f.deletionAUC, f.insertionAUC))
            }
        }
    }
}

extension AttributionMethod: ExpressibleByArgument {}
extension Faithfulness.Baseline: ExpressibleByArgument {}
