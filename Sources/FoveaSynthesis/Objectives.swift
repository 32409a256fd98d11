import Foundation
import FoveaTensor

// The objectives of the lecture and of Lucid, each a value of a layer's output [B, C, H, W]
// (or [B, C]) or of the image. `batch: b` reads image b only; nil means the mean over the batch.

extension Objective {
    /// One unit: channel c at one position (the centre by default) of a spatial layer.
    public static func neuron(_ layer: String, _ channel: Int, y: Int? = nil, x: Int? = nil, batch: Int? = nil) -> Objective {
        Objective(name: "neuron(\(layer), \(channel))", layers: [layer]) { inputs in
            let a = inputs.layer(layer).batch(batch)
            let (h, w) = (a.shape[2], a.shape[3])
            let (row, column) = (y ?? h / 2, x ?? w / 2)
            return a.slice(axis: 1, channel..<(channel + 1)).slice(axis: 2, row..<(row + 1))
                .slice(axis: 3, column..<(column + 1)).mean()
        }
    }

    /// A channel's mean activation over space (and the batch).
    public static func channel(_ layer: String, _ channel: Int, batch: Int? = nil) -> Objective {
        Objective(name: "channel(\(layer), \(channel))", layers: [layer]) { inputs in
            inputs.layer(layer).batch(batch).slice(axis: 1, channel..<(channel + 1)).mean()
        }
    }

    /// DeepDream's objective: the mean of the squared activations of a whole layer.
    public static func layer(_ layer: String, batch: Int? = nil) -> Objective {
        Objective(name: "layer(\(layer))", layers: [layer]) { inputs in inputs.layer(layer).batch(batch).pow(2).mean() }
    }

    /// A class logit (class visualisation, Simonyan et al. 2014).
    public static func classLogit(_ index: Int, batch: Int? = nil) -> Objective {
        Objective(name: "logit(\(index))", layers: [""]) { inputs in
            inputs.layer("").batch(batch).slice(axis: 1, index..<(index + 1)).mean()
        }
    }

    /// A class's log-probability (raises the class and lowers the others).
    public static func classLogProbability(_ index: Int, batch: Int? = nil) -> Objective {
        Objective(name: "log p(\(index))", layers: [""]) { inputs in
            inputs.layer("").batch(batch).logSoftmax(axis: 1).slice(axis: 1, index..<(index + 1)).mean()
        }
    }

    /// A direction v in a layer's channel space: mean over positions of (a . v) |cos(a, v)|^p
    /// (p = 0: the plain dot product; Olah et al.'s cosine-similarity power).
    public static func direction(_ layer: String, _ vector: [Float], cosinePower: Float = 0, batch: Int? = nil) -> Objective {
        Objective(name: "direction(\(layer))", layers: [layer]) { inputs in
            let a = inputs.layer(layer).batch(batch)
            precondition(a.shape[1] == vector.count, "direction: \(vector.count) values for \(a.shape[1]) channels")
            let v = Tensor(shape: [1, vector.count] + Array(repeating: 1, count: a.rank - 2), values: vector)
            let dot = (a * v).sum(axes: [1])
            guard cosinePower != 0 else { return dot.mean() }
            let norms = (a.pow(2).sum(axes: [1]) + 1e-8).sqrt() * Float(vector.reduce(0) { $0 + $1 * $1 }.squareRoot())
            return (dot * (dot / norms).abs().adding(1e-8).pow(cosinePower)).mean()
        }
    }

    /// Diversity across a batch (Olah et al. 2017): minus the mean cosine similarity of each
    /// pair of images' Gram matrices G = A A^T / (HW) at `layer`, so distinct images score higher.
    public static func diversity(_ layer: String) -> Objective {
        Objective(name: "diversity(\(layer))", layers: [layer]) { inputs in
            let a = inputs.layer(layer)
            let (b, c) = (a.shape[0], a.shape[1])
            guard b > 1 else { return Tensor(scalar: 0) }
            let flat = a.reshaped([b, c, a.count / (b * c)])
            let grams = (0..<b).map { i -> Tensor in
                let f = flat.slice(axis: 0, i..<(i + 1)).reshaped([c, flat.shape[2]])
                let g = f.matmul(f, transposeB: true).reshaped([1, c * c])
                return g / (g.pow(2).sum() + 1e-8).sqrt()
            }
            let stacked = Tensor.concat(grams, axis: 0)                    // [B, C^2], unit rows
            let similarity = stacked.matmul(stacked, transposeB: true)       // [B, B]
            // Off-diagonal sum: the whole sum minus the diagonal (each 1).
            return -(similarity.sum() - Float(b)) / Float(b * (b - 1))
        }
    }

    /// Total variation of the image, sum over pixels of (dx^2 + dy^2)^(beta/2), as a mean
    /// (Mahendran & Vedaldi 2015). Maximising it makes noise: use it with a negative weight.
    public static func totalVariation(beta: Float = 2) -> Objective {
        Objective(name: "tv(beta \(beta))", layers: []) { inputs in
            let x = inputs.image
            let (h, w) = (x.shape[2], x.shape[3])
            let dy = x.slice(axis: 2, 1..<h).slice(axis: 3, 0..<(w - 1)) - x.slice(axis: 2, 0..<(h - 1)).slice(axis: 3, 0..<(w - 1))
            let dx = x.slice(axis: 3, 1..<w).slice(axis: 2, 0..<(h - 1)) - x.slice(axis: 3, 0..<(w - 1)).slice(axis: 2, 0..<(h - 1))
            let squared = dx.pow(2) + dy.pow(2)
            return beta == 2 ? squared.mean() : squared.adding(1e-8).pow(beta / 2).mean()
        }
    }

    /// Mean |x - c| of the image (c = 0.5, mid grey, by default).
    public static func l1(around c: Float = 0.5) -> Objective {
        Objective(name: "l1", layers: []) { inputs in (inputs.image - c).abs().mean() }
    }

    /// Mean (x - c)^2 of the image (Simonyan et al.'s L2 prior with a negative weight).
    public static func l2(around c: Float = 0.5) -> Objective {
        Objective(name: "l2", layers: []) { inputs in (inputs.image - c).pow(2).mean() }
    }
}
