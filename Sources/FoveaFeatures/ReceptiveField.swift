import Fovea
import FoveaNN
import FoveaTensor

/// Where a unit of a layer looks in the input: unit (i, j) of the layer sees input rows
/// [start.h + i * jump.h, + size.h) and columns likewise (possibly outside the image).
public struct ReceptiveField: Equatable, Sendable {
    public var size: (h: Int, w: Int)
    public var jump: (h: Int, w: Int)
    public var start: (h: Int, w: Int)

    public init(size: (h: Int, w: Int), jump: (h: Int, w: Int), start: (h: Int, w: Int)) {
        (self.size, self.jump, self.start) = (size, jump, start)
    }

    public static let identity = ReceptiveField(size: (1, 1), jump: (1, 1), start: (0, 0))

    public static func == (a: Self, b: Self) -> Bool { a.size == b.size && a.jump == b.jump && a.start == b.start }

    /// The input window of unit (i, j).
    public func window(row i: Int, column j: Int) -> (y: Int, x: Int, height: Int, width: Int) {
        (start.h + i * jump.h, start.w + j * jump.w, size.h, size.w)
    }

    /// Through a window op (kernel k, stride s, leading padding p, dilation d), per axis:
    /// size += (k - 1) d jump, start -= p jump, jump *= s.
    func through(_ g: Conv2dGeometry) -> ReceptiveField {
        ReceptiveField(size: (size.h + (g.kernel.h - 1) * g.dilation.h * jump.h, size.w + (g.kernel.w - 1) * g.dilation.w * jump.w),
                       jump: (jump.h * g.stride.h, jump.w * g.stride.w),
                       start: (start.h - g.padding.top * jump.h, start.w - g.padding.left * jump.w))
    }

    /// Computed exactly from the recorded graph that produced `output` from `input`: window
    /// operations (convolutions, pooling, padding) compose as above; elementwise operations
    /// keep the field; where branches meet (a residual sum), the larger field wins.
    public static func of(_ output: Tensor, from input: Tensor) throws -> ReceptiveField {
        var memo: [ObjectIdentifier: ReceptiveField] = [:]
        func field(_ t: Tensor) throws -> ReceptiveField {
            if t === input { return .identity }
            if let known = memo[ObjectIdentifier(t)] { return known }
            guard let node = t.node else { throw FoveaError("receptive field: the layer does not depend on the input") }
            let spatialInputs = node.inputs.filter { $0.isDifferentiable && $0.rank == 4 }
            guard !spatialInputs.isEmpty else { throw FoveaError("receptive field: reached a non-spatial operation (\(node.primitive.name))") }
            let base: ReceptiveField
            switch node.primitive {
            case .conv2d(let g, _), .conv2dBatchNormClamp(let g, _, _, _), .conv2dClamp(let g, _, _), .maxPool2d(let g, _), .avgPool2d(let g, _, _),
                 .batchNormClampMaxPool(let g, _):
                base = try field(node.inputs[0]).through(g)
            case .batchNormTrainClampMaxPool:
                base = try field(node.inputs[0]).through(Conv2dGeometry(kernel: (2, 2), stride: (2, 2)))
            case .pad2d(let top, _, let left, _, _):
                let f = try field(node.inputs[0])
                base = ReceptiveField(size: f.size, jump: f.jump, start: (f.start.h - top * f.jump.h, f.start.w - left * f.jump.w))
            case .adaptiveAvgPool2d, .resize2d:
                throw FoveaError("receptive field: \(node.primitive.name) has no fixed window")
            default:
                base = try spatialInputs.map(field).max { $0.size.h * $0.size.w < $1.size.h * $1.size.w }!
            }
            memo[ObjectIdentifier(t)] = base
            return base
        }
        return try field(output)
    }
}

extension ImageClassifier {
    /// The receptive field of `layer` on an input of the model's size.
    public func receptiveField(of layer: String) throws -> ReceptiveField {
        let size = preprocessing.inputSize
        let x = Tensor(zeros: [1, preprocessing.channels, size, size])
        x.requiresGrad = true                                    // record the graph
        let capture = try LayerCapture(module, layers: [layer], gradients: false)
        defer { capture.remove() }
        _ = module(x)
        guard let out = capture.outputs[layer], out.rank == 4 else {
            throw FoveaError("--layer \(layer): needs a layer with a [N, C, H, W] output")
        }
        return try ReceptiveField.of(out, from: x)
    }
}
