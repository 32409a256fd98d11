import Fovea
import FoveaNN
import FoveaTensor

/// A saliency map for one image and one class.
///
/// `values` is row-major `height` x `width`, unnormalised: at the model input size for
/// pixel-space methods, at the layer's spatial size for the CAM family.
public struct SaliencyMap: Sendable {
    public init(values: [Float], height: Int, width: Int, method: String, layer: String?, target: Int) {
        precondition(values.count == height * width, "map of \(values.count) values is not \(height) x \(width)")
        (self.values, self.height, self.width, self.method, self.layer, self.target) = (values, height, width, method, layer, target)
    }

    public let values: [Float]
    public let height: Int
    public let width: Int
    public let method: String
    /// The layer the map was computed at (CAM family), nil for pixel-space methods.
    public let layer: String?
    public let target: Int

    public var tensor: Tensor { Tensor(shape: [height, width], values: values) }
}

/// The attribution methods Fovea computes, by their command-line names.
public enum AttributionMethod: String, CaseIterable, Sendable {
    case occlusion, gradient, cam, gradcam
    case guidedBackprop = "guided-backprop", guidedGradcam = "guided-gradcam"
    case gradcamPlusPlus = "gradcam++", scorecam, smoothgrad
    case integratedGradients = "integrated-gradients"

    /// Methods whose map lives at a layer's resolution (and that take --layer).
    public var isLayerMethod: Bool { [.gradcam, .gradcamPlusPlus, .scorecam, .guidedGradcam].contains(self) }

    /// "gradcam,occlusion" -> those methods, checked by name (nil: all of them); errors name `option`.
    public static func list(_ text: String?, option: String) throws -> [AttributionMethod] {
        guard let text else { return allCases }
        let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !names.isEmpty else { throw FoveaError("\(option): give at least one method") }
        return try names.map { name in
            guard let m = AttributionMethod(rawValue: name) else {
                throw FoveaError("\(option) \(name): unknown method; choose from \(allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return m
        }
    }
}

extension SaliencyMap {
    /// Larger = more important, for ranking pixels: occlusion maps hold the probability left
    /// after occluding, so they are negated; other maps are used as they are.
    public var importance: SaliencyMap {
        method == "occlusion"
            ? SaliencyMap(values: values.map { -$0 }, height: height, width: width, method: method, layer: layer, target: target)
            : self
    }
}

extension ImageClassifier {
    /// Runs `input` through the model with `layers` captured, and back-propagates the logit of
    /// `target` (pre-softmax, as in Simonyan et al. and Selvaraju et al.). Returns the logits,
    /// the capture (outputs and the gradients flowing into them) and dS/d(input).
    public func backpropagate(_ input: Tensor, target: Int, capturing layers: [String] = [])
        throws -> (logits: Tensor, capture: LayerCapture, inputGradient: Tensor) {
        let capture = try LayerCapture(module, layers: layers)
        defer { capture.remove() }
        let x = input.detached()
        x.requiresGrad = true
        let logits = module(x)
        guard target >= 0 && target < logits.shape[1] else {
            throw FoveaError("--target \(target): class index out of range 0..<\(logits.shape[1])")
        }
        logits.slice(axis: 1, target..<(target + 1)).sum().backward()
        return (logits.detached(), capture, x.grad ?? Tensor(zeros: x.shape))
    }

    /// The CAM family's shared first step: the output A [1, K, h, w] of `layer` and the gradient
    /// of the target's logit flowing into it (zeros when the target does not depend on it).
    func activationAndGradient(_ input: Tensor, target: Int, layer: String, method: String) throws -> (a: Tensor, g: Tensor) {
        let run = try backpropagate(input, target: target, capturing: [layer])
        guard let a = run.capture.outputs[layer], a.rank == 4 else {
            throw FoveaError("--layer \(layer): \(method) needs a layer with a [N, C, H, W] output")
        }
        return (a, run.capture.gradients[layer] ?? Tensor(zeros: a.shape))
    }

    /// The top-1 class of `input`.
    public func topClass(_ input: Tensor) -> Int { logits(input).argmax()[0] }
}
