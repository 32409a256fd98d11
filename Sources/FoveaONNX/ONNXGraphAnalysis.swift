import Foundation
import FoveaTensor

/// The axis order of a 4-D value: which logical axis (N 0, C 1, H 2, W 3) each stored axis
/// holds. Exported graphs mix NCHW (ONNX's convolutions) with NHWC (TensorFlow's activations,
/// between Transpose nodes).
public enum ONNXLayout: Sendable, Equatable {
    case nchw, nhwc
    /// A 4-D value whose layout Fovea cannot follow (after an unusual Transpose or a Reshape).
    case unknown

    init(order: [Int]) {
        switch order {
        case [0, 1, 2, 3]: self = .nchw
        case [0, 2, 3, 1]: self = .nhwc
        default: self = .unknown
        }
    }

    var order: [Int]? {
        switch self {
        case .nchw: [0, 1, 2, 3]
        case .nhwc: [0, 2, 3, 1]
        case .unknown: nil
        }
    }
}

/// The end of an exported classifier, read from the graph:
/// `[spatial] -> GlobalAveragePool | ReduceMean -> (Flatten | Reshape | Squeeze)* -> features
///  -> Gemm | MatMul (+ Add) -> logits -> (Softmax | LogSoftmax)? -> output`.
public struct ONNXClassifierHead {
    /// The value holding the class scores before any final normalisation.
    public let logits: String
    /// "Softmax" or "LogSoftmax" when the graph ends in one (Fovea reads `logits` instead).
    public let finalActivation: String?
    /// The layer computing the linear map (the Gemm or the Add after MatMul), nil if none.
    public let linear: String?
    /// The value entering the linear map, [N, K]: the model's last-layer features.
    public let features: String?
    /// The linear map's weight as [classes, K], when it is a constant.
    public let weight: Tensor?
    /// The value that global average pooling reduces to `features` ([N, K, h, w] once seen as
    /// NCHW), for CAM.
    public let pooled: String?
}

extension ONNXGraph {
    /// How each node output's axes are ordered, followed from the graph input through
    /// Transpose (composes), Conv-like operators (NCHW by definition) and elementwise operators
    /// (keep their input's). Values absent from the map are not 4-D feature maps that Fovea
    /// follows (shape arithmetic, vectors, or a layout lost to Reshape).
    static func followLayouts(steps: [Step], input: String, channelsLastInput: Bool, constants: Set<String>) -> [String: ONNXLayout] {
        let nchwOperators: Set<String> = ["Conv", "ConvTranspose", "MaxPool", "AveragePool", "BatchNormalization", "InstanceNormalization",
                                          "LRN", "Resize", "Upsample", "GlobalAveragePool", "GlobalMaxPool", "Pad", "DepthToSpace", "SpaceToDepth"]
        let elementwise: Set<String> = ["Relu", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Abs", "Neg", "Reciprocal", "Pow", "LeakyRelu",
                                        "HardSigmoid", "HardSwish", "Clip", "Cast", "Identity", "Dropout", "Add", "Sub", "Mul", "Div",
                                        "Sum", "Max", "Min", "Elu", "Selu", "PRelu", "Softplus", "Erf", "QuantizeLinear", "DequantizeLinear"]
        var layouts: [String: ONNXLayout] = [input: channelsLastInput ? .nhwc : .nchw]
        for step in steps {
            let op = step.node.opType
            let produced: ONNXLayout?
            if nchwOperators.contains(op) {
                produced = .nchw
            } else if op == "Transpose" {
                let perm = step.node.attribute.first { $0.name == "perm" }.map { $0.ints.map { Int($0) } }
                if let source = layouts[step.inputs[0]], let order = source.order, let perm, perm.count == 4, Set(perm) == [0, 1, 2, 3] {
                    produced = ONNXLayout(order: perm.map { order[$0] })
                } else {
                    produced = layouts[step.inputs[0]] == nil ? nil : .unknown
                }
            } else if elementwise.contains(op) || op == "Concat" {
                let seen = step.inputs.filter { !$0.isEmpty && !constants.contains($0) }.compactMap { layouts[$0] }
                produced = seen.isEmpty ? nil : (Set(seen.map { "\($0)" }).count == 1 ? seen[0] : .unknown)
            } else {
                produced = nil
            }
            if let produced { layouts[step.outputs[0]] = produced }
        }
        return layouts
    }

    /// The layout of a layer's (node output's) value; nil when it is not a followed 4-D value.
    public func layout(of layer: String) -> ONNXLayout? { layouts[layer] }

    /// The classifier head at the end of the graph's first output, as far as it can be read.
    public func classifierHead() -> ONNXClassifierHead {
        let producers = Dictionary(steps.map { ($0.outputs[0], $0) }, uniquingKeysWith: { a, _ in a })
        let passThrough: Set<String> = ["Identity", "Flatten", "Reshape", "Squeeze", "Dropout", "Cast"]
        func back(_ value: String, through ops: Set<String>) -> String {
            var v = value
            while let step = producers[v], ops.contains(step.node.opType) { v = step.inputs[0] }
            return v
        }
        // Final normalisation.
        // (Reshapes after the Softmax are skipped only when there is a Softmax behind them.)
        var logits = outputNames[0]
        var finalActivation: String?
        if let step = producers[back(outputNames[0], through: ["Identity", "Flatten", "Reshape", "Squeeze"])],
           ["Softmax", "LogSoftmax"].contains(step.node.opType) {
            finalActivation = step.node.opType
            logits = step.inputs[0]
        }
        // The linear map: Gemm(A, B, C) or MatMul(A, B) (+ Add(., C)) with a constant B.
        var linear: String?, features: String?, weight: Tensor?
        let head = back(logits, through: ["Identity"])
        if let step = producers[head] {
            var matmul: Step? = nil
            if step.node.opType == "Gemm" || step.node.opType == "MatMul" { matmul = step }
            if step.node.opType == "Add" {
                matmul = step.inputs.compactMap { producers[$0] }.first { $0.node.opType == "MatMul" || $0.node.opType == "Gemm" }
            }
            if let matmul {
                linear = step.outputs[0]
                features = matmul.inputs[0]
                if case .float(let b)? = constants[matmul.inputs[1]], b.rank == 2 {
                    let transB = matmul.node.attribute.first { $0.name == "transB" }?.i ?? 0
                    let transA = matmul.node.attribute.first { $0.name == "transA" }?.i ?? 0
                    if transA == 0 { weight = transB == 1 ? b : b.permuted([1, 0]).copy() }     // [classes, K]
                }
            }
        }
        // Global average pooling before the features.
        var pooled: String?
        if let features, let step = producers[back(features, through: passThrough)] {
            let source = step.inputs.first ?? ""
            switch step.node.opType {
            case "GlobalAveragePool" where layouts[source] == .nchw || layouts[source] == .nhwc:
                pooled = source
            case "ReduceMean":
                var axes = step.node.attribute.first { $0.name == "axes" }.map { $0.ints.map { Int($0) } }
                if axes == nil, step.inputs.count > 1, case .integer(let a)? = constants[step.inputs[1]] { axes = a.values.map { Int($0) } }
                let spatial = Set((axes ?? []).map { $0 < 0 ? $0 + 4 : $0 })
                if (layouts[source] == .nchw && spatial == [2, 3]) || (layouts[source] == .nhwc && spatial == [1, 2]) { pooled = source }
            default: break
            }
        }
        return ONNXClassifierHead(logits: logits, finalActivation: finalActivation, linear: linear, features: features,
                                  weight: weight, pooled: pooled)
    }
}
