extension Tensor {
    /// Reverse-mode differentiation from this tensor.
    ///
    /// `seed` is dL/d(self) (default: ones, so a scalar loss needs none). Gradients accumulate into
    /// ``grad`` of leaves with ``requiresGrad`` and of tensors with ``retainsGrad``; each tensor's
    /// ``gradHooks`` run once its gradient is complete. Rules run without recording.
    public func backward(_ seed: Tensor? = nil) {
        let seed = seed ?? Tensor(repeating: 1, shape: shape)
        check(seed.shape == shape, "backward seed shape \(seed.shape) != tensor shape \(shape)")
        let order = topologicalOrder()
        var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): seed]
        withNoGrad {
            for tensor in order.reversed() {
                guard let g = grads.removeValue(forKey: ObjectIdentifier(tensor)) else { continue }
                if (tensor.node == nil && tensor.requiresGrad) || tensor.retainsGrad {
                    tensor.grad = tensor.grad.map { $0 + g } ?? g
                }
                for hook in tensor.gradHooks { hook(g) }
                guard let node = tensor.node else { continue }
                let rule = node.rule ?? standardRule(node.primitive)
                let inputGrads = rule(g, node, tensor)
                check(inputGrads.count == node.inputs.count,
                             "rule for \(node.primitive.name) returned \(inputGrads.count) gradients")
                for (input, ig) in zip(node.inputs, inputGrads) {
                    guard let ig, input.isDifferentiable else { continue }
                    check(ig.shape == input.shape,
                                 "\(node.primitive.name) gradient shape \(ig.shape) != input \(input.shape)")
                    let key = ObjectIdentifier(input)
                    grads[key] = grads[key].map { $0 + ig } ?? ig
                }
            }
        }
    }

    /// Differentiable tensors reachable from `self`, each after all of its inputs.
    func topologicalOrder() -> [Tensor] {
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        // Iterative DFS: (tensor, next input index to visit).
        var stack: [(Tensor, Int)] = [(self, 0)]
        visited.insert(ObjectIdentifier(self))
        while let (tensor, i) = stack.popLast() {
            let inputs = tensor.node?.inputs ?? []
            if i < inputs.count {
                stack.append((tensor, i + 1))
                let next = inputs[i]
                if next.isDifferentiable, visited.insert(ObjectIdentifier(next)).inserted {
                    stack.append((next, 0))
                }
            } else {
                order.append(tensor)
            }
        }
        return order
    }

    /// Zeroes (drops) the accumulated gradient.
    public func zeroGrad() { grad = nil }
}

/// Computes gradients of `output` with respect to `inputs` without touching their `.grad`.
public func gradients(of output: Tensor, withRespectTo inputs: [Tensor], seed: Tensor? = nil) -> [Tensor?] {
    var captured = [Tensor?](repeating: nil, count: inputs.count)
    let saved = inputs.map { ($0.gradHooks, $0.grad) }
    for (i, t) in inputs.enumerated() {
        t.gradHooks.append { captured[i] = $0 }
    }
    output.backward(seed)
    for (t, s) in zip(inputs, saved) {
        t.gradHooks = s.0
        t.grad = s.1
    }
    return captured
}
