import FoveaTensor

/// What an objective reads: layer outputs of the transformed batch and the image itself.
public struct ObjectiveInputs {
    /// Outputs by PyTorch module path; "" is the model's output (logits), [B, classes].
    public let activations: [String: Tensor]
    /// The synthesised image before transforms, [B, C, H, W] in 0...1.
    public let image: Tensor

    public init(activations: [String: Tensor], image: Tensor) {
        self.activations = activations
        self.image = image
    }

    func layer(_ name: String) -> Tensor { activations[name]! }
}

/// A scalar to maximise. Objectives compose as in Lucid: `a + b`, `a - b`, `k * a`, `-a`.
///
/// ```swift
/// let goal = Objective.channel("_blocks.4", 7) - 0.05 * Objective.totalVariation()
/// ```
public struct Objective {
    /// The layers it reads ("" for the model's output): a pass stops after the deepest of them.
    public let layers: Set<String>
    /// A short description (`channel(_blocks.4, 7)`).
    public let name: String
    let evaluate: (ObjectiveInputs) -> Tensor

    public init(name: String, layers: Set<String>, _ evaluate: @escaping (ObjectiveInputs) -> Tensor) {
        self.name = name
        self.layers = layers
        self.evaluate = evaluate
    }

    /// The objective's value (a 0-d tensor, recorded for backward).
    public func callAsFunction(_ inputs: ObjectiveInputs) -> Tensor { evaluate(inputs) }

    public static func + (a: Objective, b: Objective) -> Objective {
        Objective(name: "\(a.name) + \(b.name)", layers: a.layers.union(b.layers)) { a($0) + b($0) }
    }

    public static func - (a: Objective, b: Objective) -> Objective {
        Objective(name: "\(a.name) - \(b.name)", layers: a.layers.union(b.layers)) { a($0) - b($0) }
    }

    public static func * (k: Float, a: Objective) -> Objective {
        Objective(name: "\(k) * \(a.name)", layers: a.layers) { a($0) * k }
    }

    public static prefix func - (a: Objective) -> Objective {
        Objective(name: "-\(a.name)", layers: a.layers) { -a($0) }
    }

    /// The same objective under another description.
    public func named(_ name: String) -> Objective { Objective(name: name, layers: layers, evaluate) }

    /// The objectives summed (one per image of a batch, for example).
    public static func sum(_ parts: [Objective]) -> Objective {
        precondition(!parts.isEmpty, "Objective.sum needs at least one objective")
        return parts.dropFirst().reduce(parts[0], +)
    }
}

extension Tensor {
    /// Images `b` of a batch (all when nil), keeping the batch axis.
    func batch(_ b: Int?) -> Tensor { b.map { slice(axis: 0, $0..<($0 + 1)) } ?? self }
}
