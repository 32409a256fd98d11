import Foundation

extension Tensor {
    /// The same elements with a new shape (shares storage). One dimension may be -1.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var s = newShape
        if let i = s.firstIndex(of: -1) {
            let known = s.enumerated().filter { $0.offset != i }.reduce(1) { $0 * $1.element }
            check(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            s[i] = count / known
        }
        check(s.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        if s == shape { return self }
        return Tensor(shape: s, storage: storage).recorded(.reshape, [self])
    }

    /// Flattens dimensions from `startAxis` on: [N, C, H, W] -> [N, C*H*W].
    public func flattened(from startAxis: Int = 1) -> Tensor {
        reshaped(Array(shape[..<startAxis]) + [shape[startAxis...].reduce(1, *)])
    }

    /// Broadcasts to `shape` (materialised copy).
    public func expanded(to target: [Int]) -> Tensor {
        guard let b = broadcastShape(shape, target), b == target else {
            checkFailure("cannot expand \(shape) to \(target)")
        }
        if target == shape { return self }
        return Elementwise.expand(self, to: target).recorded(.expand, [self])
    }

    /// Reorders axes: out.shape[i] = shape[order[i]].
    public func permuted(_ order: [Int]) -> Tensor {
        check(order.sorted() == Array(0..<rank), "bad permutation \(order) for rank \(rank)")
        return Layout.permute(self, order).recorded(.permute(order), [self])
    }

    /// Swaps the last two axes of a 2-D tensor.
    public var transposed: Tensor { permuted([1, 0]) }

    /// Elements `start..<end` along `axis`.
    public func slice(axis: Int, _ range: Range<Int>) -> Tensor {
        let a = normalizedAxis(axis)
        check(range.lowerBound >= 0 && range.upperBound <= shape[a], "slice \(range) out of bounds for axis \(a) of \(shape)")
        return Layout.slice(self, axis: a, start: range.lowerBound, end: range.upperBound)
            .recorded(.slice(axis: a, start: range.lowerBound, end: range.upperBound), [self])
    }

    /// Item `i` of a batch, [1, ...]: the same values as `slice(axis: 0, i..<(i + 1))` and the
    /// same gradient, sharing this tensor's storage (as a reshape does) instead of copying it:
    /// what a recorded graph keeps of a batch it takes apart (a Gram matrix per image) stays
    /// one copy of the batch.
    public func batchItem(_ i: Int) -> Tensor {
        check(rank >= 1 && (0..<shape[0]).contains(i), "batchItem \(i) of \(shape)")
        let size = count / shape[0]
        return Tensor(shape: [1] + shape.dropFirst(), storage: Storage(window: storage, offset: i * size, count: size))
            .recorded(.slice(axis: 0, start: i, end: i + 1), [self])
    }

    /// The entries along `axis` in reverse order (RGB <-> BGR on axis 1), differentiable.
    public func reversed(axis: Int) -> Tensor {
        let n = shape[axis]
        return n <= 1 ? self : Tensor.concat((0..<n).reversed().map { slice(axis: axis, $0..<($0 + 1)) }, axis: axis)
    }

    /// Concatenates tensors along `axis`.
    public static func concat(_ tensors: [Tensor], axis: Int) -> Tensor {
        check(!tensors.isEmpty, "concat of no tensors")
        let a = tensors[0].normalizedAxis(axis)
        return Layout.concat(tensors, axis: a).recorded(.concat(axis: a), tensors)
    }

    /// Pads the last two axes (H, W) of an NCHW tensor.
    public func padded(top: Int, bottom: Int, left: Int, right: Int, mode: PaddingMode = .zero) -> Tensor {
        check(rank == 4, "pad2d needs NCHW input, got \(shape)")
        check(min(top, bottom, left, right) >= 0, "pad2d needs non-negative padding, got \([top, bottom, left, right])")
        if mode == .reflect {
            check(top < shape[2] && bottom < shape[2] && left < shape[3] && right < shape[3],
                         "reflection padding must be smaller than the input size \(shape)")
        }
        return Spatial.pad(self, top: top, bottom: bottom, left: left, right: right, mode: mode)
            .recorded(.pad2d(top: top, bottom: bottom, left: left, right: right, mode: mode), [self])
    }

    /// Resamples the H, W axes of an NCHW tensor (PyTorch `interpolate`, align_corners=False).
    public func resized(height: Int, width: Int, mode: ResizeMode = .bilinear) -> Tensor {
        check(rank == 4, "resize2d needs NCHW input, got \(shape)")
        return Spatial.resize(self, h: height, w: width, mode: mode)
            .recorded(.resize2d(h: height, w: width, mode: mode), [self])
    }

    /// Resamples each image of an NCHW tensor through a 2x3 affine matrix acting on normalised
    /// coordinates ([-1, 1] across the image), bilinearly, zeros outside: PyTorch's
    /// `grid_sample(x, affine_grid(theta, [N, C, height, width], align_corners=False), align_corners=False)`.
    /// `theta` holds 6 values per image, row-major, or 6 for all images.
    public func affineResampled(theta: [Float], height: Int, width: Int) -> Tensor {
        check(rank == 4, "affineResample needs NCHW input, got \(shape)")
        check(theta.count == 6 || theta.count == 6 * shape[0], "affineResample needs 6 or 6N matrix values, got \(theta.count)")
        return Spatial.affine(self, theta: theta, h: height, w: width)
            .recorded(.affineResample(theta: theta, h: height, w: width), [self])
    }

    /// The image turned by `angle` radians (counter-clockwise on screen) and scaled by `scale`
    /// about its centre, same size, zeros outside. The matrix maps output to input coordinates:
    /// theta = R(-angle) / scale (on a square image).
    public func rotatedAndScaled(angle: Float, scale: Float) -> Tensor {
        let (c, s) = (Foundation.cos(angle) / scale, Foundation.sin(angle) / scale)
        return affineResampled(theta: [c, -s, 0, s, c, 0], height: shape[2], width: shape[3])
    }

    /// The H, W axes rolled by (dy, dx) with wrap-around (`torch.roll(x, (dy, dx), (2, 3))`).
    public func rolled(dy: Int, dx: Int) -> Tensor {
        check(rank == 4, "roll needs NCHW input, got \(shape)")
        func roll(_ x: Tensor, _ by: Int, axis: Int) -> Tensor {
            let n = x.shape[axis], k = ((by % n) + n) % n
            guard k != 0 else { return x }
            return Tensor.concat([x.slice(axis: axis, (n - k)..<n), x.slice(axis: axis, 0..<(n - k))], axis: axis)
        }
        return roll(roll(self, dy, axis: 2), dx, axis: 3)
    }
}

/// Copying kernels for layout changes.
enum Layout {
    static func permute(_ x: Tensor, _ order: [Int]) -> Tensor {
        let outShape = order.map { x.shape[$0] }
        let xs = x.strides
        let srcStrides = order.map { xs[$0] }
        let px = x.storage.pointer
        return Tensor(overwriting: outShape) { out in
            let po = out.baseAddress!
            forEachRun(shape: outShape, stridesA: srcStrides, stridesB: Tensor.strides(of: outShape)) { lin, ox, _, n, ix, _ in
                for j in 0..<n { po[lin + j] = px[ox + j * ix] }
            }
        }
    }

    static func slice(_ x: Tensor, axis: Int, start: Int, end: Int) -> Tensor {
        let (outer, n, inner) = Reduce.split(x.shape, axis)
        var s = x.shape; s[axis] = end - start
        let px = x.storage.pointer
        let len = (end - start) * inner
        return Tensor(overwriting: s) { out in
            for o in 0..<outer {
                (out.baseAddress! + o * len).update(from: px + (o * n + start) * inner, count: len)
            }
        }
    }

    /// Inverse of slice for gradients: places `g` at `start` along `axis` in zeros of `shape`.
    static func unslice(_ g: Tensor, shape: [Int], axis: Int, start: Int) -> Tensor {
        let (outer, n, inner) = Reduce.split(shape, axis)
        let len = g.shape[axis] * inner
        let pg = g.storage.pointer
        return Tensor(shape: shape) { out in
            for o in 0..<outer {
                (out.baseAddress! + (o * n + start) * inner).update(from: pg + o * len, count: len)
            }
        }
    }

    static func concat(_ xs: [Tensor], axis: Int) -> Tensor {
        var s = xs[0].shape
        for x in xs.dropFirst() {
            check(x.rank == s.count, "concat rank mismatch")
            for d in 0..<s.count where d != axis {
                check(x.shape[d] == s[d], "concat shape mismatch \(xs[0].shape) vs \(x.shape) on axis \(d)")
            }
        }
        s[axis] = xs.reduce(0) { $0 + $1.shape[axis] }
        let (outer, n, inner) = Reduce.split(s, axis)
        return Tensor(overwriting: s) { out in
            var offset = 0
            for x in xs {
                let len = x.shape[axis] * inner
                let px = x.storage.pointer
                for o in 0..<outer {
                    (out.baseAddress! + o * n * inner + offset).update(from: px + o * len, count: len)
                }
                offset += len
            }
        }
    }
}
