import Foundation

/// Typed access to a node's attributes, with errors that name the node.
struct ONNXAttributes {
    let node: Onnx_NodeProto
    let context: String
    private let byName: [String: Onnx_AttributeProto]

    init(_ node: Onnx_NodeProto, context: String) {
        self.node = node
        self.context = context
        var map: [String: Onnx_AttributeProto] = [:]
        for a in node.attribute { map[a.name] = a }
        byName = map
    }

    func has(_ name: String) -> Bool { byName[name] != nil }

    func int(_ name: String, _ fallback: Int) throws -> Int {
        guard let a = byName[name] else { return fallback }
        guard a.type == .int || a.hasI else { throw ONNXError("\(context): attribute '\(name)' is not an integer") }
        guard let v = Int(exactly: a.i), abs(v) < 1 << 40 else { throw ONNXError("\(context): attribute '\(name)' = \(a.i) is out of range") }
        return v
    }

    func ints(_ name: String) throws -> [Int]? {
        guard let a = byName[name] else { return nil }
        guard a.type == .ints || a.type == .undefined else { throw ONNXError("\(context): attribute '\(name)' is not a list of integers") }
        guard a.ints.allSatisfy({ abs($0) < 1 << 40 }) else { throw ONNXError("\(context): attribute '\(name)' holds out-of-range values") }
        return a.ints.map { Int($0) }
    }

    func float(_ name: String, _ fallback: Float) throws -> Float {
        guard let a = byName[name] else { return fallback }
        guard a.type == .float || a.hasF else { throw ONNXError("\(context): attribute '\(name)' is not a float") }
        return a.f
    }

    func floats(_ name: String) -> [Float]? { byName[name].map(\.floats) }

    func string(_ name: String, _ fallback: String) -> String {
        guard let a = byName[name] else { return fallback }
        return String(decoding: a.s, as: UTF8.self)
    }

    func tensor(_ name: String) throws -> ONNXValue? {
        guard let a = byName[name] else { return nil }
        guard a.hasT else { throw ONNXError("\(context): attribute '\(name)' is not a tensor") }
        return try a.t.value(context: "\(context), attribute '\(name)'")
    }
}
