import Testing
@testable import FoveaTensor

@Suite struct AutodiffTests {
    @Test func closedFormPolynomial() {
        // y = x^2 + 5x + 4, dy/dx = 2x + 5
        let x = Tensor(shape: [3], values: [-1, 0, 2], requiresGrad: true)
        let y = x.pow(2) + x * 5 + 4
        y.sum().backward()
        #expect(x.grad?.scalars == [3, 5, 9])
    }

    /// An item of a batch read through a window on the batch's storage: the slice's values and
    /// gradient, no copy, and the window outlives the tensor it was taken from.
    @Test func batchItemsAreWindowsWithTheSlicesGradient() {
        let x = Tensor(shape: [3, 2, 2], values: (0..<12).map(Float.init), requiresGrad: true)
        var item: Tensor? = x.batchItem(1)
        #expect(item!.shape == [1, 2, 2] && item!.scalars == x.slice(axis: 0, 1..<2).scalars)
        #expect(item!.storage.pointer == x.storage.pointer + 4)
        (item! * item!).sum().backward()
        #expect(x.grad?.scalars == [0, 0, 0, 0, 8, 10, 12, 14, 0, 0, 0, 0])
        let kept = withNoGrad { Tensor(shape: [2, 3], values: (0..<6).map(Float.init)).batchItem(1) }
        item = nil
        #expect(kept.scalars == [3, 4, 5])
    }

    @Test func gradientsAccumulateOverSharedUses() {
        // z = x * x + x, dz/dx = 2x + 1; x is used three times.
        let x = Tensor(shape: [2], values: [1, -3], requiresGrad: true)
        (x * x + x).sum().backward()
        #expect(x.grad?.scalars == [3, -5])
        (x * 2).sum().backward()         // accumulates into .grad like PyTorch
        #expect(x.grad?.scalars == [5, -3])
    }

    @Test func noGradRecordsNothing() {
        let x = Tensor(shape: [2], values: [1, 2], requiresGrad: true)
        let y = withNoGrad { x * 3 }
        #expect(y.node == nil)
        #expect(!y.isDifferentiable)
        #expect((x * 3).node != nil)
    }

    @Test func constantsGetNoGradient() {
        let x = Tensor(shape: [2], values: [1, 2], requiresGrad: true)
        let c = Tensor(shape: [2], values: [5, 7])
        (x * c).sum().backward()
        #expect(c.grad == nil)
        #expect(x.grad?.scalars == [5, 7])
    }

    @Test func gradHookSeesIntermediateGradient() {
        // h = 3x, y = sum(h^2): dy/dh = 2h = 6x.
        let x = Tensor(shape: [2], values: [1, 2], requiresGrad: true)
        let h = x * 3
        var seen: [Float] = []
        h.gradHooks.append { seen = $0.scalars }
        h.retainsGrad = true
        h.pow(2).sum().backward()
        #expect(seen == [6, 12])
        #expect(h.grad?.scalars == [6, 12])
        #expect(x.grad?.scalars == [18, 36])
    }

    @Test func gradientsFunctionLeavesGradUntouched() {
        let x = Tensor(shape: [2], values: [2, 3], requiresGrad: true)
        let g = gradients(of: (x * x).sum(), withRespectTo: [x])
        #expect(g[0]?.scalars == [4, 6])
        #expect(x.grad == nil)
    }

    @Test func backwardRuleOverrideAppliesOnlyInsideItsScope() {
        // Guided-backprop ReLU: pass only positive gradients where the input was positive.
        let x = Tensor(shape: [4], values: [-1, 2, 3, -4], requiresGrad: true)
        let seed = Tensor(shape: [4], values: [1, -1, 1, 1])
        let guided = withBackwardRule(for: "relu", { g, node, _ in
            [g.relu() * node.inputs[0].greater(than: 0)]
        }) { x.relu() }
        guided.backward(seed)
        #expect(x.grad?.scalars == [0, 0, 1, 0])
        x.grad = nil
        x.relu().backward(seed)
        #expect(x.grad?.scalars == [0, -1, 1, 0])
    }

    @Test func deepChainDoesNotOverflowTheStack() {
        let x = Tensor(shape: [1], values: [1], requiresGrad: true)
        var y = x
        for _ in 0..<20_000 { y = y.adding(1) }
        y.backward()
        #expect(x.grad?.item == 1)
    }
}
