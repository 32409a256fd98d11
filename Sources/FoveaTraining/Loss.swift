import FoveaTensor

/// Loss functions: scalar tensors, differentiable through their inputs.
public enum Loss {
    /// Mean cross-entropy of logits [N, C] against class indices (`torch.nn.functional.cross_entropy`):
    /// -1/N sum_n log softmax(logits_n)[label_n].
    public static func crossEntropy(_ logits: Tensor, labels: [Int]) -> Tensor {
        logits.crossEntropy(labels: labels)
    }

    /// Mean squared error (`torch.nn.functional.mse_loss`): mean over all elements of (a - b)^2.
    public static func meanSquaredError(_ prediction: Tensor, _ target: Tensor) -> Tensor {
        precondition(prediction.shape == target.shape, "meanSquaredError: shapes \(prediction.shape) and \(target.shape)")
        let d = prediction - target
        return (d * d).sum() / Float(prediction.count)
    }
}
