import FoveaTensor

/// A network whose first layers are affine in eval mode (a convolution and a batch norm, with no
/// activation between them): `stem(x)` is their output and `forward(afterStem:)` the rest of the
/// pass, so that `forward(afterStem: stem(x))` equals `self(x)`.
///
/// Integrated Gradients uses this: on a straight path x(a) = x' + a (x - x') the stem's output
/// is the straight path stem(x') + a (stem(x) - stem(x')), and the stem's Jacobian J is the
/// same everywhere, so sum_k w_k J^T g_k = J^T sum_k w_k g_k. The stem then runs twice forward
/// and once backward per attribution instead of once each per step.
public protocol AffineStem: Module {
    /// The stem's layers: a hook on any of them makes the stem inseparable.
    var stemLayers: [Module] { get }
    /// The stem's output: [N, C, H, W], before the first nonlinearity.
    func stem(_ x: Tensor) -> Tensor
    /// The rest of the forward pass up to the final classifier's input, [N, F], from the stem's
    /// output.
    func features(afterStem h: Tensor) -> Tensor
    /// The final linear layer: logits = classifier(features(afterStem: stem(x))).
    var classifier: Linear { get }
}

extension AffineStem {
    /// Whether the stem can be run apart from the rest now: eval mode, and no hook on the
    /// network or its stem (a hook there must see the usual pass).
    public var stemIsSeparable: Bool {
        !isTraining && !hasHooks && stemLayers.allSatisfy { !$0.isTraining && !$0.hasHooks }
    }

    /// Whether ``score(afterStem:target:)`` can stand in for the target's logit: the
    /// classifier has no hook (one would not see that pass).
    public var scoreIsSeparable: Bool { !classifier.hasHooks }

    /// The rest of the forward pass, from the stem's output: the logits, [N, classes].
    public func forward(afterStem h: Tensor) -> Tensor { classifier(features(afterStem: h)) }

    /// Logit `target` alone, [N, 1]: f . W[target] + b[target] with f = features(afterStem: h),
    /// the classifier's row as a constant. Its gradient with respect to f is exactly W[target]
    /// (what backward through all the logits gives), without the two passes over all of W.
    /// `target` must be in range.
    public func score(afterStem h: Tensor, target: Int) -> Tensor {
        let (weight, bias) = withNoGrad {
            (classifier.weight.slice(axis: 0, target..<(target + 1)), classifier.bias?.slice(axis: 0, target..<(target + 1)))
        }
        return features(afterStem: h).linear(weight: weight, bias: bias)
    }
}
