import FoveaTensor

/// Loss functions: scalar tensors, differentiable through their inputs.
public enum Loss {
    /// Mean cross-entropy of logits [N, C] against class indices (`torch.nn.functional.cross_entropy`):
    /// -1/N sum_n log softmax(logits_n)[label_n].
    public static func crossEntropy(_ logits: Tensor, labels: [Int]) -> Tensor {
        precondition(logits.rank == 2 && logits.shape[0] == labels.count,
                     "crossEntropy: logits \(logits.shape) for \(labels.count) labels")
        let (n, c) = (logits.shape[0], logits.shape[1])
        let oneHot = Tensor(shape: [n, c]) { out in
            for (i, label) in labels.enumerated() {
                precondition(label >= 0 && label < c, "crossEntropy: label \(label) out of range 0..<\(c)")
                out[i * c + label] = 1
            }
        }
        return -(logits.logSoftmax(axis: 1) * oneHot).sum() / Float(n)
    }

    /// Mean squared error (`torch.nn.functional.mse_loss`): mean over all elements of (a - b)^2.
    public static func meanSquaredError(_ prediction: Tensor, _ target: Tensor) -> Tensor {
        precondition(prediction.shape == target.shape, "meanSquaredError: shapes \(prediction.shape) and \(target.shape)")
        let d = prediction - target
        return (d * d).sum() / Float(prediction.count)
    }
}
