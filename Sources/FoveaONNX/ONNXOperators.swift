import Foundation
import FoveaTensor

/// Computes a node's outputs from its inputs (nil for an omitted optional input).
typealias ONNXKernel = (_ inputs: [ONNXValue?]) throws -> [ONNXValue]

/// The ONNX operators Fovea runs, each lowered to differentiable ``Tensor`` ops (so hooks,
/// gradients and every attribution method work on an imported graph), or, for shape
/// arithmetic, to ``IntegerArray``. Semantics follow the ONNX operator specification at the
/// model's opset.
public enum ONNXOperators {
    static let supported: [String] = [
        "Abs", "Add", "AveragePool", "BatchNormalization", "Cast", "Clip", "Concat", "Constant",
        "ConstantOfShape", "Conv", "ConvTranspose", "DequantizeLinear", "Div", "Dropout", "Exp", "Expand",
        "Flatten", "Gather", "Gemm", "GlobalAveragePool", "GlobalMaxPool", "HardSigmoid", "HardSwish",
        "Identity", "InstanceNormalization", "LeakyRelu", "Log", "LogSoftmax", "MatMul", "MaxPool", "Mul",
        "Neg", "Pad", "Pow", "QuantizeLinear", "Reciprocal", "ReduceMax", "ReduceMean", "ReduceSum",
        "Relu", "Reshape", "Resize", "Shape", "Sigmoid", "Slice", "Softmax", "Split", "Sqrt",
        "Squeeze", "Sub", "Sum", "Tanh", "Transpose", "Unsqueeze", "Upsample",
    ]

    /// The most elements one value may hold (4 GiB of float32): a graph whose shape arithmetic
    /// or attributes ask for more is refused before anything is allocated.
    static let maxElements = 1 << 30

    /// Throws unless `shape` is non-negative and holds at most ``maxElements`` (no overflow).
    static func checkSize(_ shape: [Int], _ what: String, _ c: String) throws {
        var n = 1
        for d in shape {
            guard d >= 0 else { throw ONNXError("\(c): \(what) \(shape) has a negative size") }
            let (product, overflow) = n.multipliedReportingOverflow(by: d)
            guard !overflow, product <= maxElements else {
                throw ONNXError("\(c): \(what) \(shape) is too large (more than \(maxElements) elements)")
            }
            n = product
        }
    }

    /// How many operator types Fovea runs (for listings).
    public static var count: Int { supported.count }

    /// The kernel of `node` at `opset`; throws for an operator or attribute Fovea does not support.
    static func kernel(for node: Onnx_NodeProto, opset: Int, context: String) throws -> ONNXKernel {
        let attr = ONNXAttributes(node, context: context)
        let c = context
        switch node.opType {
        // MARK: elementwise
        case "Add": return { i in [try binary(i, c, +, &+)] }
        case "Sub": return { i in [try binary(i, c, -, &-)] }
        case "Mul": return { i in [try binary(i, c, *, &*)] }
        case "Div": return { i in [try binary(i, c, /) { a, b in b == 0 ? 0 : a / b }] }
        case "Sum": return { i in
            var acc = try float(i, 0, c)
            for k in 1..<i.count { acc = try add(acc, try float(i, k, c), c) }
            return [.float(acc)]
        }
        case "Relu": return { i in [.float(try float(i, 0, c).relu())] }
        case "Sigmoid": return { i in [.float(try float(i, 0, c).sigmoid())] }
        case "Tanh": return { i in [.float(try float(i, 0, c).tanh())] }
        case "Exp": return { i in [.float(try float(i, 0, c).exp())] }
        case "Log": return { i in [.float(try float(i, 0, c).log())] }
        case "Sqrt": return { i in [.float(try float(i, 0, c).sqrt())] }
        case "Abs": return { i in [.float(try float(i, 0, c).abs())] }
        case "Neg": return { i in
            if case .integer(let a)? = i.first ?? nil { return [.integer(IntegerArray(shape: a.shape, values: a.values.map { -$0 }, type: a.type))] }
            return [.float(-(try float(i, 0, c)))]
        }
        case "Reciprocal": return { i in [.float(try float(i, 0, c).pow(-1))] }
        case "Pow": return { i in
            let x = try float(i, 0, c), e = try float(i, 1, c).scalars
            guard let p = e.first, e.allSatisfy({ $0 == p }) else {
                throw ONNXError("\(c): Pow with a varying exponent is not supported (only a constant power)")
            }
            return [.float(p == 2 ? x * x : p == 1 ? x : x.pow(p))]
        }
        case "LeakyRelu":
            let alpha = try attr.float("alpha", 0.01)
            return { i in [.float(try float(i, 0, c).leakyRelu(alpha))] }
        case "HardSigmoid":
            let alpha = try attr.float("alpha", 0.2), beta = try attr.float("beta", 0.5)
            return { i in [.float(clamp(try float(i, 0, c) * alpha + beta, 0, 1))] }
        case "HardSwish": return { i in
            let x = try float(i, 0, c)
            return [.float(x * clamp(x * (1 / 6) + 0.5, 0, 1))]
        }
        case "Clip":
            let (attrMin, attrMax) = (try attr.float("min", -.infinity), try attr.float("max", .infinity))
            return { i in
                let x = try float(i, 0, c)
                let lo = opset >= 11 ? try optionalScalar(i, 1, c) ?? -.infinity : attrMin
                let hi = opset >= 11 ? try optionalScalar(i, 2, c) ?? .infinity : attrMax
                return [.float(clamp(x, lo, hi))]
            }
        case "Softmax", "LogSoftmax":
            let axis = try attr.int("axis", opset >= 13 ? -1 : 1)
            let log = node.opType == "LogSoftmax"
            return { i in
                let x = try float(i, 0, c)
                let a = try normalized(axis, rank: x.rank, c)
                if opset < 13 && a != x.rank - 1 {
                    // Before opset 13 the input is viewed as 2-D [prod(:axis), prod(axis:)].
                    let flat = x.reshaped([x.shape[..<a].reduce(1, *), x.shape[a...].reduce(1, *)])
                    return [.float((log ? flat.logSoftmax(axis: 1) : flat.softmax(axis: 1)).reshaped(x.shape))]
                }
                return [.float(log ? x.logSoftmax(axis: a) : x.softmax(axis: a))]
            }

        // MARK: linear algebra and CNN layers
        case "Conv": return try conv(attr, c)
        case "ConvTranspose": return try convTranspose(attr, c)
        case "Gemm":
            let alpha = try attr.float("alpha", 1), beta = try attr.float("beta", 1)
            let tA = try attr.int("transA", 0) != 0, tB = try attr.int("transB", 0) != 0
            return { i in
                let a = try float(i, 0, c), b = try float(i, 1, c)
                guard a.rank == 2, b.rank == 2, (tA ? a.shape[0] : a.shape[1]) == (tB ? b.shape[1] : b.shape[0]) else {
                    throw ONNXError("\(c): Gemm of \(a.shape) and \(b.shape) (transA \(tA), transB \(tB)) does not fit")
                }
                var y = a.matmul(b, transposeA: tA, transposeB: tB)
                if alpha != 1 { y = y * alpha }
                if i.count > 2, i[2] != nil { y = try add(y, try float(i, 2, c) * beta, c) }
                return [.float(y)]
            }
        case "MatMul": return { i in [.float(try matmul(try float(i, 0, c), try float(i, 1, c), c))] }
        case "BatchNormalization":
            let eps = try attr.float("epsilon", 1e-5)
            return { i in
                let x = try float(i, 0, c)
                let (scale, bias, mean, variance) = (try float(i, 1, c), try float(i, 2, c), try float(i, 3, c), try float(i, 4, c))
                guard x.rank >= 2, [scale, bias, mean, variance].allSatisfy({ $0.count == x.shape[1] }) else {
                    throw ONNXError("\(c): BatchNormalization statistics do not match input \(x.shape)")
                }
                return [.float(x.batchNorm(weight: scale, bias: bias, runningMean: mean, runningVar: variance,
                                           training: false, eps: eps))]
            }
        case "InstanceNormalization":
            let eps = try attr.float("epsilon", 1e-5)
            return { i in
                let x = try float(i, 0, c), scale = try float(i, 1, c), bias = try float(i, 2, c)
                guard x.rank == 4, scale.count == x.shape[1], bias.count == x.shape[1] else {
                    throw ONNXError("\(c): InstanceNormalization needs NCHW input with per-channel scale and bias, got \(x.shape)")
                }
                return [.float(x.instanceNorm(weight: scale, bias: bias, eps: eps))]
            }
        case "MaxPool", "AveragePool": return try pool(attr, c, max: node.opType == "MaxPool", outputs: node.output)
        case "GlobalAveragePool": return { i in
            let x = try float(i, 0, c)
            guard x.rank >= 3 else { throw ONNXError("\(c): GlobalAveragePool needs N x C x spatial input, got \(x.shape)") }
            if x.rank == 4 { return [.float(x.adaptiveAvgPool2d(height: 1, width: 1))] }
            return [.float(x.mean(axes: Array(2..<x.rank), keepDims: true))]
        }
        case "GlobalMaxPool": return { i in
            var x = try float(i, 0, c)
            guard x.rank >= 3 else { throw ONNXError("\(c): GlobalMaxPool needs N x C x spatial input, got \(x.shape)") }
            for axis in 2..<x.rank { x = x.max(axis: axis) }
            return [.float(x)]
        }
        case "Dropout": return { i in
            guard let x = i.first ?? nil else { throw ONNXError("\(c): missing input") }
            // Inference: identity; the optional mask output is all ones.
            return [x, .integer(IntegerArray(shape: x.shape, values: [Int64](repeating: 1, count: x.shape.reduce(1, *)), type: .bool))]
        }
        case "Identity": return { i in
            guard let x = i.first ?? nil else { throw ONNXError("\(c): missing input") }
            return [x]
        }

        // MARK: reductions
        case "ReduceMean", "ReduceSum", "ReduceMax":
            let keep = try attr.int("keepdims", 1) != 0
            let noopWhenEmpty = try attr.int("noop_with_empty_axes", 0) != 0
            let attrAxes = try attr.ints("axes")
            let axesAsInput = node.opType == "ReduceSum" ? opset >= 13 : opset >= 18
            let op = node.opType
            return { i in
                let x = try float(i, 0, c)
                let given = axesAsInput ? try optionalIntegers(i, 1, c) : attrAxes
                if (given ?? []).isEmpty && noopWhenEmpty { return [.float(x)] }
                let axes = try (given?.isEmpty == false ? given! : Array(0..<x.rank)).map { try normalized($0, rank: x.rank, c) }
                var y: Tensor
                switch op {
                case "ReduceMean": y = x.mean(axes: axes, keepDims: true)
                case "ReduceSum": y = x.sum(axes: axes, keepDims: true)
                default:
                    y = x
                    for a in axes { y = y.max(axis: a) }
                }
                if !keep { y = y.reshaped(x.shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)) }
                return [.float(y)]
            }

        // MARK: shape
        case "Reshape":
            let allowZero = try attr.int("allowzero", 0) != 0
            let attrShape = try attr.ints("shape")
            return { i in
                guard let x = i.first ?? nil else { throw ONNXError("\(c): missing input") }
                let requested = opset >= 5 ? try integers(i, 1, c) : (attrShape ?? [])
                return [try reshape(x, to: try reshapeTarget(x.shape, requested, allowZero: allowZero, c), c)]
            }
        case "Flatten":
            let axis = try attr.int("axis", 1)
            return { i in
                guard let x = i.first ?? nil else { throw ONNXError("\(c): missing input") }
                let a = axis < 0 ? axis + x.shape.count : axis
                guard (0...x.shape.count).contains(a) else { throw ONNXError("\(c): Flatten axis \(axis) out of range for \(x.shape)") }
                return [try reshape(x, to: [x.shape[..<a].reduce(1, *), x.shape[a...].reduce(1, *)], c)]
            }
        case "Transpose":
            let perm = try attr.ints("perm")
            return { i in
                guard let x = i.first ?? nil else { throw ONNXError("\(c): missing input") }
                let order = perm ?? Array((0..<x.shape.count).reversed())
                guard order.sorted() == Array(0..<x.shape.count) else {
                    throw ONNXError("\(c): Transpose perm \(order) does not fit rank \(x.shape.count)")
                }
                switch x {
                case .float(let t): return [.float(t.permuted(order))]
                case .integer(let a): return [.integer(a.permuted(order))]
                }
            }
        case "Squeeze", "Unsqueeze":
            let attrAxes = try attr.ints("axes")
            let squeeze = node.opType == "Squeeze"
            return { i in
                guard let x = i.first ?? nil else { throw ONNXError("\(c): missing input") }
                let axes = opset >= 13 ? try optionalIntegers(i, 1, c) : attrAxes
                var shape = x.shape
                if squeeze {
                    let drop = try (axes ?? shape.indices.filter { shape[$0] == 1 }).map { try normalized($0, rank: shape.count, c) }
                    guard drop.allSatisfy({ shape[$0] == 1 }) else { throw ONNXError("\(c): Squeeze of a non-1 axis in \(shape)") }
                    shape = shape.enumerated().filter { !drop.contains($0.offset) }.map(\.element)
                } else {
                    guard let axes else { throw ONNXError("\(c): Unsqueeze without axes") }
                    let rank = shape.count + axes.count
                    for a in try axes.map({ try normalized($0, rank: rank, c) }).sorted() { shape.insert(1, at: a) }
                }
                return [try reshape(x, to: shape, c)]
            }
        case "Concat":
            let axis = try attr.int("axis", 0)
            return { i in
                let parts = i.compactMap { $0 }
                guard let first = parts.first else { throw ONNXError("\(c): Concat of nothing") }
                let a = try normalized(axis, rank: first.shape.count, c)
                for p in parts where p.shape.count != first.shape.count
                    || p.shape.indices.contains(where: { $0 != a && p.shape[$0] != first.shape[$0] }) {
                    throw ONNXError("\(c): Concat along axis \(a) of shapes \(parts.map(\.shape)) does not fit")
                }
                if parts.allSatisfy({ if case .integer = $0 { true } else { false } }) {
                    return [.integer(IntegerArray.concat(parts.map { if case .integer(let v) = $0 { v } else { fatalError() } }, axis: a))]
                }
                return [.float(Tensor.concat(try parts.indices.map { try float(parts, $0, c) }, axis: a))]
            }
        case "Split":
            let axis = try attr.int("axis", 0), attrSplit = try attr.ints("split")
            let count = node.output.count
            return { i in
                guard let x = i.first ?? nil else { throw ONNXError("\(c): missing input") }
                let a = try normalized(axis, rank: x.shape.count, c), n = x.shape[a]
                let sizes = opset >= 13 ? try optionalIntegers(i, 1, c) ?? [] : attrSplit ?? []
                // Without sizes: equal chunks of ceil(n / outputs), the last one smaller.
                let chunk = (n + count - 1) / max(count, 1)
                let parts = sizes.isEmpty ? (0..<count).map { k in max(min(chunk, n - chunk * k), 0) } : sizes
                guard parts.count == count, parts.reduce(0, +) == n, parts.allSatisfy({ $0 >= 0 }) else {
                    throw ONNXError("\(c): Split of \(n) into \(parts) does not fit")
                }
                var start = 0
                return try parts.map { size in
                    defer { start += size }
                    return try slice(x, axis: a, positions: Array(start..<(start + size)), c)
                }
            }
        case "Slice":
            let (attrStarts, attrEnds, attrAxes) = (try attr.ints("starts"), try attr.ints("ends"), try attr.ints("axes"))
            return { i in
                guard var x = i.first ?? nil else { throw ONNXError("\(c): missing input") }
                let starts = opset >= 10 ? try integers(i, 1, c) : attrStarts ?? []
                let ends = opset >= 10 ? try integers(i, 2, c) : attrEnds ?? []
                let axes = (opset >= 10 ? try optionalIntegers(i, 3, c) : attrAxes) ?? Array(0..<starts.count)
                let steps = (opset >= 10 ? try optionalIntegers(i, 4, c) : nil) ?? [Int](repeating: 1, count: starts.count)
                guard starts.count == ends.count, axes.count == starts.count, steps.count == starts.count,
                      !steps.contains(0) else {
                    throw ONNXError("\(c): Slice starts/ends/axes/steps lengths differ or a step is 0")
                }
                for k in starts.indices {
                    let a = try normalized(axes[k], rank: x.shape.count, c), n = x.shape[a], step = steps[k]
                    func clampIndex(_ v: Int, _ lo: Int, _ hi: Int) -> Int { min(max(v < 0 ? v + n : v, lo), hi) }
                    let positions: [Int]
                    if step > 0 {
                        positions = Array(stride(from: clampIndex(starts[k], 0, n), to: clampIndex(ends[k], 0, n), by: step))
                    } else {
                        // Negative steps: start within [0, n - 1], end within [-1, n - 1].
                        positions = Array(stride(from: clampIndex(starts[k], 0, n - 1), to: clampIndex(ends[k], -1, n - 1), by: step))
                    }
                    x = try slice(x, axis: a, positions: positions, c)
                }
                return [x]
            }
        case "Gather":
            let axis = try attr.int("axis", 0)
            return { i in
                guard let x = i.first ?? nil else { throw ONNXError("\(c): missing input") }
                guard case .integer(let indices)? = i.count > 1 ? i[1] : nil else { throw ONNXError("\(c): Gather needs integer indices") }
                let a = try normalized(axis, rank: x.shape.count, c), n = x.shape[a]
                let positions = try indices.values.map { v -> Int in
                    let p = Int(v) < 0 ? Int(v) + n : Int(v)
                    guard (0..<n).contains(p) else { throw ONNXError("\(c): Gather index \(v) out of range 0..<\(n)") }
                    return p
                }
                let gathered = try slice(x, axis: a, positions: positions, c)
                return [try reshape(gathered, to: Array(x.shape[..<a]) + indices.shape + Array(x.shape[(a + 1)...]), c)]
            }
        case "Shape":
            let start = try attr.int("start", 0), end = try attr.int("end", Int.max)
            return { i in
                guard let x = i.first ?? nil else { throw ONNXError("\(c): missing input") }
                let r = x.shape.count
                func clampAxis(_ v: Int) -> Int { min(max(v < 0 ? v + r : v, 0), r) }
                let dims = Array(x.shape[clampAxis(start)..<max(clampAxis(start), clampAxis(end))])
                return [.integer(IntegerArray(vector: dims.map(Int64.init)))]
            }
        case "Expand": return { i in
            guard let x = i.first ?? nil else { throw ONNXError("\(c): missing input") }
            let target = try integers(i, 1, c)
            try checkSize(target, "target shape", c)
            guard let shape = broadcastShape(x.shape, target) else { throw ONNXError("\(c): cannot expand \(x.shape) to \(target)") }
            try checkSize(shape, "output", c)
            switch x {
            case .float(let t): return [.float(t.expanded(to: shape))]
            case .integer(let a):
                return [.integer(IntegerArray.broadcast(a, IntegerArray(shape: shape, values: [Int64](repeating: 0, count: shape.reduce(1, *))), { v, _ in v })!)]
            }
        }
        case "Pad": return try pad(attr, opset: opset, c)
        case "Resize", "Upsample": return try resize(attr, opset: opset, op: node.opType, c)

        // MARK: constants and types
        case "Constant":
            let value: ONNXValue
            if let t = try attr.tensor("value") { value = t }
            else if attr.has("value_float") { value = .float(Tensor(scalar: try attr.float("value_float", 0))) }
            else if let f = attr.floats("value_floats") { value = .float(Tensor(shape: [f.count], values: f)) }
            else if attr.has("value_int") { value = .integer(IntegerArray(shape: [], values: [Int64(try attr.int("value_int", 0))])) }
            else if let v = try attr.ints("value_ints") { value = .integer(IntegerArray(vector: v.map(Int64.init))) }
            else { throw ONNXError("\(c): Constant without a supported value attribute") }
            return { _ in [value] }
        case "ConstantOfShape":
            let fill = try attr.tensor("value") ?? .float(Tensor(scalar: 0))
            return { i in
                let shape = try integers(i, 0, c)
                try checkSize(shape, "shape", c)
                switch fill {
                case .float(let t): return [.float(Tensor(repeating: t.scalars.first ?? 0, shape: shape))]
                case .integer(let a):
                    return [.integer(IntegerArray(shape: shape, values: [Int64](repeating: a.values.first ?? 0, count: shape.reduce(1, *)), type: a.type))]
                }
            }
        case "Cast":
            let to = try attr.int("to", 1)
            guard let type = ONNXDataType(rawValue: Int32(to)), type != .string else { throw ONNXError("\(c): Cast to unsupported type \(to)") }
            return { i in
                guard let x = i.first ?? nil else { throw ONNXError("\(c): missing input") }
                switch (x, type.isFloatingPoint) {
                case (.float, true): return [x]
                case (.integer(let a), true): return [.float(a.asTensor())]
                case (.float(let t), false):
                    let v = t.scalars.map { type == .bool ? ($0 != 0 ? 1 : 0) : Int64(exactly: $0.rounded(.towardZero)) ?? 0 }
                    return [.integer(IntegerArray(shape: t.shape, values: v, type: type))]
                case (.integer(let a), false):
                    return [.integer(IntegerArray(shape: a.shape, values: type == .bool ? a.values.map { $0 != 0 ? 1 : 0 } : a.values, type: type))]
                }
            }

        // MARK: quantisation
        case "QuantizeLinear":
            let axis = try attr.int("axis", 1)
            return { i in
                let x = try float(i, 0, c)
                let scale = try perAxis(try float(i, 1, c), axis: axis, rank: x.rank, c)
                var zeroPoint: Tensor = Tensor(scalar: 0), range: ClosedRange<Int64> = 0...255
                if i.count > 2, let zp = i[2] {
                    guard case .integer(let z) = zp, let r = z.type.integerRange else { throw ONNXError("\(c): zero point must be an integer tensor") }
                    zeroPoint = try perAxis(z.asTensor(), axis: axis, rank: x.rank, c)
                    range = r
                }
                guard broadcastShape(x.shape, scale.shape) != nil else { throw ONNXError("\(c): scale \(scale.shape) does not fit \(x.shape)") }
                // y = saturate(round_half_even(x / scale) + zero_point), with the straight-through
                // estimator as its gradient (d y / d (x / scale) = 1).
                let scaled = x / scale
                let (lo, hi) = (Float(range.lowerBound), Float(range.upperBound))
                let zp = withNoGrad { zeroPoint.expanded(to: x.shape) }
                let ps = scaled.buffer, pz = zp.buffer
                let rounded = Tensor(overwriting: x.shape) { out in
                    for k in 0..<out.count { out[k] = min(max(ps[k].rounded(.toNearestOrEven) + pz[k], lo), hi) }
                }
                return [.float((scaled + zeroPoint).straightThrough(to: rounded))]
            }
        case "DequantizeLinear":
            let axis = try attr.int("axis", 1)
            return { i in
                guard let x = i.first ?? nil else { throw ONNXError("\(c): missing input") }
                let scale = try perAxis(try float(i, 1, c), axis: axis, rank: x.shape.count, c)
                let zeroPoint = i.count > 2 ? i[2] : nil
                guard broadcastShape(x.shape, scale.shape) != nil else { throw ONNXError("\(c): scale \(scale.shape) does not fit \(x.shape)") }
                // y = (x - zero_point) * scale; an integer x is shifted exactly before converting.
                switch x {
                case .integer(let q):
                    var shifted = q
                    if case .integer(let z)? = zeroPoint {
                        let zAxis = z.count > 1 ? z.reshaped(perAxisShape(z.count, axis: axis, rank: q.rank)) : z.reshaped([])
                        guard let s = IntegerArray.broadcast(q, zAxis, -) else { throw ONNXError("\(c): zero point does not fit \(q.shape)") }
                        shifted = s
                    }
                    return [.float(shifted.asTensor() * scale)]
                case .float(let t):
                    var shifted = t
                    if let zeroPoint {
                        let z = try perAxis(try float([zeroPoint], 0, c), axis: axis, rank: t.rank, c)
                        shifted = t - z
                    }
                    return [.float(shifted * scale)]
                }
            }
        default:
            throw ONNXError("\(context): operator '\(node.opType)' is not supported (supported: \(supported.joined(separator: ", ")))")
        }
    }

    // MARK: - helpers

    static func float(_ inputs: [ONNXValue?], _ k: Int, _ c: String) throws -> Tensor {
        guard k < inputs.count, let v = inputs[k] else { throw ONNXError("\(c): missing input \(k)") }
        switch v {
        case .float(let t): return t
        case .integer(let a): return a.asTensor()
        }
    }

    static func integers(_ inputs: [ONNXValue?], _ k: Int, _ c: String) throws -> [Int] {
        guard let v = try optionalIntegers(inputs, k, c) else { throw ONNXError("\(c): missing input \(k)") }
        return v
    }

    static func optionalIntegers(_ inputs: [ONNXValue?], _ k: Int, _ c: String) throws -> [Int]? {
        guard k < inputs.count, let v = inputs[k] else { return nil }
        switch v {
        case .integer(let a): return a.ints
        case .float(let t):
            guard t.scalars.allSatisfy({ $0 == $0.rounded() && abs($0) < 1e9 }) else { throw ONNXError("\(c): input \(k) must hold integers") }
            return t.scalars.map { Int($0) }
        }
    }

    static func optionalScalar(_ inputs: [ONNXValue?], _ k: Int, _ c: String) throws -> Float? {
        guard k < inputs.count, inputs[k] != nil else { return nil }
        let t = try float(inputs, k, c)
        guard t.count == 1 else { throw ONNXError("\(c): input \(k) must be a scalar, got shape \(t.shape)") }
        return t.scalars[0]
    }

    static func normalized(_ axis: Int, rank: Int, _ c: String) throws -> Int {
        let a = axis < 0 ? axis + rank : axis
        guard (0..<max(rank, 1)).contains(a) else { throw ONNXError("\(c): axis \(axis) out of range for rank \(rank)") }
        return a
    }

    /// min(max(x, lo), hi), with ReLU and ReLU6 as single primitives where they apply.
    static func clamp(_ x: Tensor, _ lo: Float, _ hi: Float) -> Tensor {
        if lo == 0 && hi == 6 { return x.relu6() }
        var y = x
        if lo == 0 { y = y.relu() } else if lo > -.infinity { y = (y - lo).relu() + lo }
        if hi < .infinity { y = hi - (hi - y).relu() }
        return y
    }

    static func add(_ a: Tensor, _ b: Tensor, _ c: String) throws -> Tensor {
        guard broadcastShape(a.shape, b.shape) != nil else { throw ONNXError("\(c): shapes \(a.shape) and \(b.shape) do not broadcast") }
        return a + b
    }

    static func binary(_ i: [ONNXValue?], _ c: String, _ op: (Tensor, Tensor) -> Tensor,
                       _ intOp: @escaping (Int64, Int64) -> Int64) throws -> ONNXValue {
        guard i.count >= 2, let a = i[0], let b = i[1] else { throw ONNXError("\(c): needs two inputs") }
        guard broadcastShape(a.shape, b.shape) != nil else { throw ONNXError("\(c): shapes \(a.shape) and \(b.shape) do not broadcast") }
        if case .integer(let x) = a, case .integer(let y) = b { return .integer(IntegerArray.broadcast(x, y, intOp)!) }
        return .float(op(try float(i, 0, c), try float(i, 1, c)))
    }

    /// ONNX MatMul (NumPy matmul) for the shapes CNNs use: N-D x 2-D, and batched N-D x N-D
    /// with equal batch dimensions.
    static func matmul(_ a: Tensor, _ b: Tensor, _ c: String) throws -> Tensor {
        guard a.rank >= 2, b.rank >= 2, a.shape.last == b.shape[b.rank - 2] else {
            throw ONNXError("\(c): MatMul of \(a.shape) and \(b.shape) is not supported (needs [..., m, k] x [..., k, n])")
        }
        let (k, n) = (a.shape.last!, b.shape.last!)
        if b.rank == 2 {
            return a.reshaped([a.count / k, k]).matmul(b).reshaped(Array(a.shape.dropLast()) + [n])
        }
        guard a.shape.dropLast(2) == b.shape.dropLast(2) else {
            throw ONNXError("\(c): MatMul batch dimensions of \(a.shape) and \(b.shape) differ")
        }
        let m = a.shape[a.rank - 2], batch = a.count / (m * k)
        let fa = a.reshaped([batch, m, k]), fb = b.reshaped([batch, k, n])
        let products = (0..<batch).map { i in
            fa.slice(axis: 0, i..<(i + 1)).reshaped([m, k]).matmul(fb.slice(axis: 0, i..<(i + 1)).reshaped([k, n])).reshaped([1, m, n])
        }
        return Tensor.concat(products, axis: 0).reshaped(Array(a.shape.dropLast(2)) + [m, n])
    }

    static func reshape(_ x: ONNXValue, to shape: [Int], _ c: String) throws -> ONNXValue {
        guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == x.shape.reduce(1, *) else {
            throw ONNXError("\(c): cannot reshape \(x.shape) to \(shape)")
        }
        switch x {
        case .float(let t): return .float(t.reshaped(shape))
        case .integer(let a): return .integer(a.reshaped(shape))
        }
    }

    /// ONNX Reshape's target: 0 copies the input dimension (unless allowzero), -1 is inferred.
    static func reshapeTarget(_ input: [Int], _ requested: [Int], allowZero: Bool, _ c: String) throws -> [Int] {
        var shape = requested.enumerated().map { k, d in d == 0 && !allowZero && k < input.count ? input[k] : d }
        let known = shape.filter { $0 != -1 }.reduce(1, *)
        if let inferred = shape.firstIndex(of: -1) {
            guard shape.filter({ $0 == -1 }).count == 1, known > 0, input.reduce(1, *) % known == 0 else {
                throw ONNXError("\(c): cannot reshape \(input) to \(requested)")
            }
            shape[inferred] = input.reduce(1, *) / known
        }
        return shape
    }

    /// Elements `positions` along `axis` (contiguous runs as one slice each).
    static func slice(_ x: ONNXValue, axis: Int, positions: [Int], _ c: String) throws -> ONNXValue {
        switch x {
        case .integer(let a): return .integer(a.gathered(axis: axis, positions))
        case .float(let t):
            if let first = positions.first, positions == Array(first..<(first + positions.count)) {
                return .float(t.slice(axis: axis, first..<(first + positions.count)))
            }
            if positions.isEmpty {
                var s = t.shape; s[axis] = 0
                return .float(Tensor(zeros: s))
            }
            return .float(Tensor.concat(positions.map { t.slice(axis: axis, $0..<($0 + 1)) }, axis: axis))
        }
    }

    /// Shape [1, ..., n, ..., 1] of rank `rank` with n at `axis`.
    static func perAxisShape(_ n: Int, axis: Int, rank: Int) -> [Int] {
        let a = axis < 0 ? axis + rank : axis
        return (0..<rank).map { $0 == a ? n : 1 }
    }

    /// A scalar stays a scalar; a 1-D per-channel vector is laid along `axis`.
    static func perAxis(_ t: Tensor, axis: Int, rank: Int, _ c: String) throws -> Tensor {
        if t.count == 1 { return t.reshaped([]) }
        guard t.rank == 1 else { throw ONNXError("\(c): scale or zero point must be a scalar or a 1-D vector, got \(t.shape)") }
        _ = try normalized(axis, rank: rank, c)
        return t.reshaped(perAxisShape(t.count, axis: axis, rank: rank))
    }
}
