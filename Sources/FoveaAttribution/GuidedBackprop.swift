import Fovea
import FoveaTensor

extension ImageClassifier {
    /// Guided backpropagation (Springenberg et al. 2015): the input gradient with every ReLU
    /// (and ReLU6) passing back only positive gradients where its input was active:
    /// dx = max(g, 0) * [x > 0] (* [x < 6] for ReLU6). Returns the raw gradient [1, C, H, W].
    public func guidedGradient(_ input: Tensor, target: Int) throws -> Tensor {
        let relu: BackwardRule = { g, node, _ in
            [guidedReLUGradient(g, node.inputs[0], upper: .infinity)]
        }
        let relu6: BackwardRule = { g, node, _ in
            [guidedReLUGradient(g, node.inputs[0], upper: 6)]
        }
        return try withBackwardRule(for: "relu", relu) {
            try withBackwardRule(for: "relu6", relu6) {
                try backpropagate(input, target: target).inputGradient
            }
        }
    }

    /// Guided backprop as a map (max |gradient| over channels, or signed). Map: H x W.
    public func guidedBackprop(_ input: Tensor, target: Int, signed: Bool = false) throws -> SaliencyMap {
        SaliencyMap(pixelGradient: try guidedGradient(input, target: target), signed: signed,
                    method: "guided-backprop", target: target)
    }

    /// Guided Grad-CAM (Selvaraju et al. 2017): guided backprop times Grad-CAM upsampled
    /// (bilinear) to the input size, per channel; the map is the largest magnitude over channels.
    public func guidedGradCAM(_ input: Tensor, target: Int, layer: String, signed: Bool = false) throws -> SaliencyMap {
        let guided = try guidedGradient(input, target: target)
        let cam = try gradCAM(input, target: target, layer: layer)
        let (h, w) = (guided.shape[2], guided.shape[3])
        let upsampled = withNoGrad {
            cam.tensor.reshaped([1, 1, cam.height, cam.width]).resized(height: h, width: w, mode: .bilinear)
        }
        let product = withNoGrad { guided * upsampled }
        return SaliencyMap(pixelGradient: product, signed: signed, method: "guided-gradcam", target: target)
    }
}

/// The guided backward rule of ReLU (upper = infinity) and ReLU6 (upper = 6):
/// max(g, 0) where 0 < x < upper, else 0.
private func guidedReLUGradient(_ g: Tensor, _ x: Tensor, upper: Float) -> Tensor {
    let pg = g.storage.pointer, px = x.storage.pointer
    return Tensor(overwriting: g.shape) { out in
        for i in 0..<out.count { out[i] = px[i] > 0 && px[i] < upper && pg[i] > 0 ? pg[i] : 0 }
    }
}
