import Fovea
import FoveaTensor

/// Settings of the attribution methods (each method reads the ones it uses).
public struct AttributionOptions: Sendable {
    /// Options with the occlusion patch scaled to the input: window = round(size / 7) (32 at
    /// 224, 4 at 28), stride = window / 2.
    public init(inputSize: Int) {
        let window = max(2, Int((Double(inputSize) / 7).rounded()))
        (self.window, self.stride) = (window, max(1, window / 2))
    }

    /// CAM-family layer; nil = the model's default (`ModelSpec.camLayer`).
    public var layer: String?
    public var signed = false
    /// Occlusion (defaults for 224x224 inputs; see ``occlusionGeometry(inputSize:)``).
    public var window = 32, stride = 16
    public var value: Float = 0
    /// Images per forward pass (occlusion, Score-CAM, Integrated Gradients); nil: the method's
    /// default, ``defaultBatch(_:)``.
    public var batch: Int?

    /// Measured on EfficientNet-Lite0 at 224x224 here (the kernels work image by image, so
    /// larger batches mostly cost memory): Integrated Gradients is fastest one image at a time
    /// (1.19 s against 1.31 s at 4, and 237 MB against 669 MB peak); occlusion and Score-CAM
    /// gain a little from 4 (forward passes only).
    public static func defaultBatch(_ method: AttributionMethod) -> Int {
        method == .integratedGradients ? 1 : 4
    }

    func batch(for method: AttributionMethod) -> Int { batch ?? Self.defaultBatch(method) }
    /// SmoothGrad: samples and noise level of `smoothgrad`, and of any pixel-gradient method
    /// (gradient, guided-backprop, integrated-gradients) when `smooth` is set.
    public var samples = 25
    public var noise: Float = 0.15
    public var smooth = false
    /// Integrated Gradients.
    public var steps = 50
    public var integrationBaseline: Faithfulness.Baseline = .zero
    public var quadrature: Quadrature = .gaussLegendre

    public init() {}
}

/// A map with the extras some methods produce.
public struct Attribution: Sendable {
    public let method: AttributionMethod
    public let map: SaliencyMap
    /// Integrated Gradients only.
    public let integrated: IntegratedGradientsResult?
}

extension ImageClassifier {
    /// Computes `method`'s map of `input` for `target`. Maps with a NaN or infinite value are
    /// an error, never a result.
    public func attribute(_ method: AttributionMethod, input x: Tensor, target: Int,
                          options o: AttributionOptions = AttributionOptions(),
                          progress: ((Int, Int) -> Void)? = nil) throws -> Attribution {
        try FrozenWeights.run {
            let layer = o.layer ?? spec.camLayer
            if o.smooth {
                // SmoothGrad around any pixel-gradient method: average its raw attribution over noisy inputs.
                let raw: (Tensor) throws -> Tensor
                switch method {
                case .gradient, .smoothgrad: raw = { try self.backpropagate($0, target: target).inputGradient }
                case .guidedBackprop: raw = { try self.guidedGradient($0, target: target) }
                case .integratedGradients:
                    raw = { x in
                        let start = o.integrationBaseline == .zero ? nil : self.baselineImage(x, o.integrationBaseline)
                        return try self.integratedGradients(x, target: target, baseline: start, steps: o.steps,
                                                            quadrature: o.quadrature, batch: o.batch(for: .integratedGradients)).attribution
                    }
                default:
                    throw FoveaError("--smooth applies to gradient, guided-backprop and integrated-gradients, not \(method.rawValue)")
                }
                let map = try smoothGrad(x, target: target, samples: o.samples, noise: o.noise, signed: o.signed,
                                         method: "smooth \(method.rawValue)", gradient: raw)
                return Attribution(method: method, map: map, integrated: nil)
            }
            var integrated: IntegratedGradientsResult?
            let map: SaliencyMap
            switch method {
            case .occlusion:
                map = try occlusion(x, target: target, window: o.window, stride: o.stride, value: o.value,
                                    batch: o.batch(for: .occlusion), progress: progress)
            case .gradient: map = try gradientSaliency(x, target: target, signed: o.signed)
            case .guidedBackprop: map = try guidedBackprop(x, target: target, signed: o.signed)
            case .smoothgrad:
                map = try smoothGrad(x, target: target, samples: o.samples, noise: o.noise, signed: o.signed) {
                    try self.backpropagate($0, target: target).inputGradient
                }
            case .integratedGradients:
                let start = o.integrationBaseline == .zero ? nil : baselineImage(x, o.integrationBaseline)
                let result = try integratedGradients(x, target: target, baseline: start, steps: o.steps,
                                                     quadrature: o.quadrature, batch: o.batch(for: .integratedGradients))
                integrated = result
                map = result.map
            case .cam: map = try cam(x, target: target)
            case .gradcam: map = try gradCAM(x, target: target, layer: layer)
            case .guidedGradcam: map = try guidedGradCAM(x, target: target, layer: layer, signed: o.signed)
            case .gradcamPlusPlus: map = try gradCAMPlusPlus(x, target: target, layer: layer)
            case .scorecam: map = try scoreCAM(x, target: target, layer: layer, batch: o.batch(for: .scorecam), progress: progress)
            }
            guard map.values.allSatisfy(\.isFinite) else {
                throw FoveaError("--method \(method.rawValue): the map has NaN or infinite values; nothing written")
            }
            return Attribution(method: method, map: map, integrated: integrated)
        }
    }

    /// Whether `method` applies to this model (CAM needs a global-pooling + linear head).
    public func supports(_ method: AttributionMethod) -> Bool {
        method != .cam || (try? globalPoolingHead()) != nil
    }
}
