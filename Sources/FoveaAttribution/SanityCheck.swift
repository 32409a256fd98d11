import Fovea
import FoveaNN
import FoveaTensor

/// One step of the model-parameter randomisation test.
public struct SanityStep: Codable, Sendable {
    /// The layer randomised at this step (all layers above it are random too).
    public let layer: String
    /// Spearman rank correlation between the original map and this step's map.
    public let spearman: Float
    /// This step's map (for the figure; not in the JSON).
    public let map: SaliencyMap?

    enum CodingKeys: String, CodingKey { case layer, spearman }

    public init(layer: String, spearman: Float, map: SaliencyMap? = nil) {
        (self.layer, self.spearman, self.map) = (layer, spearman, map)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(layer: try c.decode(String.self, forKey: .layer), spearman: try c.decode(Float.self, forKey: .spearman))
    }
}

extension ImageClassifier {
    /// Model-parameter randomisation test (Adebayo et al. 2018), cascading from the top: layer by
    /// layer from the output down, each layer's parameters are replaced by Gaussian noise with
    /// the same mean and standard deviation per tensor, and the map is recomputed. A map that
    /// explains the model should decorrelate (Spearman rank correlation near 0); one that stays
    /// similar reflects the input more than the model. The weights are restored afterwards.
    /// Layers are the model's top-level modules, with containers (`_blocks`, `layer4`,
    /// `features`) expanded one level.
    /// Returns the original map and the steps.
    public func sanityCheck(_ method: AttributionMethod, input: Tensor, target: Int,
                            options: AttributionOptions = AttributionOptions(), seed: UInt64 = 0,
                            progress: ((Int, Int) -> Void)? = nil) throws -> (original: SaliencyMap, steps: [SanityStep]) {
        try FrozenWeights.suspend {
            let original = try attribute(method, input: input, target: target, options: options).map
            let layers = randomisableLayers().reversed()
            let saved = module.namedParameters().map { ($0.tensor, $0.tensor.copy()) }
            defer { for (p, copy) in saved { p.storage.pointer.update(from: copy.storage.pointer, count: p.count) } }
            var generator = SeededGenerator(seed: seed)
            var steps: [SanityStep] = []
            for (i, path) in layers.enumerated() {
                progress?(i, layers.count)
                for (_, p) in module.module(at: path)!.namedParameters() {
                    let values = p.scalars
                    let mean = values.reduce(0, +) / Float(values.count)
                    let std = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(values.count)).squareRoot()
                    let noise = Tensor.normal(p.shape, mean: mean, std: std, using: &generator)
                    p.storage.pointer.update(from: noise.storage.pointer, count: p.count)
                }
                let map = try attribute(method, input: input, target: target, options: options).map
                steps.append(SanityStep(layer: path, spearman: spearman(original.values, map.values), map: map))
            }
            progress?(layers.count, layers.count)
            return (original, steps)
        }
    }

    /// Layers with parameters in forward order: top-level modules, containers expanded once.
    func randomisableLayers() -> [String] {
        var out: [String] = []
        for (name, child) in module.children {
            let expandable = child is ModuleList || child is Sequential || child is NamedSequential
            let parts = expandable ? child.children.map { ("\(name).\($0.name)", $0.module) } : [(name, child)]
            for (path, m) in parts where !m.namedParameters().isEmpty { out.append(path) }
        }
        return out
    }
}

/// Spearman rank correlation: Pearson correlation of the ranks (ties get their mean rank).
public func spearman(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count && a.count > 1, "spearman needs two samples of the same size")
    func ranks(_ v: [Float]) -> [Double] {
        let order = v.indices.sorted { v[$0] < v[$1] }
        var r = [Double](repeating: 0, count: v.count)
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && v[order[j + 1]] == v[order[i]] { j += 1 }
            let mean = Double(i + j) / 2 + 1
            for k in i...j { r[order[k]] = mean }
            i = j + 1
        }
        return r
    }
    let (ra, rb) = (ranks(a), ranks(b))
    let n = Double(a.count), ma = ra.reduce(0, +) / n, mb = rb.reduce(0, +) / n
    var cov = 0.0, va = 0.0, vb = 0.0
    for (x, y) in zip(ra, rb) { cov += (x - ma) * (y - mb); va += (x - ma) * (x - ma); vb += (y - mb) * (y - mb) }
    return va > 0 && vb > 0 ? Float(cov / (va * vb).squareRoot()) : 0
}
