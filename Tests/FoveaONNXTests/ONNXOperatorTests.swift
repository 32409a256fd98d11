import Foundation
import Testing
import FoveaIO
import FoveaNN
import FoveaTensor
import _FoveaTestSupport
@testable import FoveaONNX

/// Operators and attributes through a small exported network (Tests/Golden/onnx/operators.onnx),
/// against onnxruntime and PyTorch, forward and backward.
@Suite struct ONNXOperatorTests {
    @Test func operatorNetworkMatchesOnnxruntimeAndPyTorch() throws {
        let golden = try Safetensors.load(ONNXFixtures.folder.appendingPathComponent("operators.safetensors"))
        let graph = try ONNXGraph(contentsOf: ONNXFixtures.folder.appendingPathComponent("operators.onnx"))
        graph.setRequiresGrad(false)
        let x = golden["input"]!.copy()
        x.requiresGrad = true
        let out = try graph.run(["input": x])
        #expect(relativeL2(out["probabilities"]!.scalars, golden["ort_probabilities"]!.scalars) <= 1e-5)
        #expect(relativeL2(out["probabilities"]!.scalars, golden["probabilities"]!.scalars) <= 1e-5)
        #expect(relativeL2(out["log_probabilities"]!.scalars, golden["log_probabilities"]!.scalars) <= 1e-5)
        #expect(relativeL2(out["gram"]!.scalars, golden["ort_gram"]!.scalars) <= 1e-5)
        let weights = Tensor(shape: [1, 10], values: (1...10).map(Float.init))
        ((out["probabilities"]! * weights).sum() + out["gram"]!.sum() * 0.01).backward()
        let error = relativeL2(x.grad!.scalars, golden["input_grad"]!.scalars)
        #expect(error <= 1e-4, "input gradient relative L2 \(error)")
    }

    @Test func convTransposeIsTheAdjointOfConv() {
        // <convT(x), y> = <x, conv(y)> for the same geometry and weights.
        let w = Tensor(shape: [6, 2, 3, 3], values: SyntheticWeights.uniform("w", count: 108))
        let x = Tensor(shape: [2, 6, 5, 4], values: SyntheticWeights.uniform("x", count: 240))
        let up = x.convTranspose2d(weight: w, stride: (2, 2), padding: (1, 1, 1, 1), outputPadding: (1, 0), groups: 2)
        #expect(up.shape == [2, 4, 10, 7])
        let y = Tensor(shape: up.shape, values: SyntheticWeights.uniform("y", count: up.count))
        let down = y.conv2d(weight: w, stride: (2, 2), padding: (1, 1, 1, 1), groups: 2)
        #expect(down.shape == x.shape)
        let lhs = zip(up.scalars, y.scalars).map { Double($0) * Double($1) }.reduce(0, +)
        let rhs = zip(x.scalars, down.scalars).map { Double($0) * Double($1) }.reduce(0, +)
        #expect(abs(lhs - rhs) <= 1e-4 * abs(lhs))
    }

    @Test func integerShapeArithmetic() {
        let a = IntegerArray(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        #expect(a.permuted([1, 0]).values == [1, 4, 2, 5, 3, 6])
        #expect(a.gathered(axis: 1, [2, 0]).values == [3, 1, 6, 4])
        #expect(IntegerArray.concat([a, a], axis: 1).values == [1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6])
        #expect(IntegerArray.broadcast(a, IntegerArray(vector: [10, 20, 30]), +)!.values == [11, 22, 33, 14, 25, 36])
        #expect(IntegerArray.broadcast(a, IntegerArray(vector: [1, 2]), +) == nil)
        #expect(Float(halfBits: 0x3C00) == 1 && Float(halfBits: 0xC000) == -2 && Float(halfBits: 0x0001) == 0x1p-24)
    }
}

/// Bad ONNX input: one clear error naming the file, node or operator, never a crash.
@Suite struct ONNXErrorTests {
    /// A one-node model: input x [1, 3, 4, 4] -> op -> y.
    static func model(op: String, opset: Int64 = 17, domain: String = "", inputs: [String] = ["x"]) -> Data {
        var node = Onnx_NodeProto()
        node.opType = op
        node.name = "the_node"
        node.domain = domain
        node.input = inputs
        node.output = ["y"]
        var x = Onnx_ValueInfoProto()
        x.name = "x"
        x.type.tensorType.elemType = 1
        x.type.tensorType.shape.dim = [Int64(1), 3, 4, 4].map { var d = Onnx_TensorShapeProto.Dimension(); d.dimValue = $0; return d }
        var y = Onnx_ValueInfoProto()
        y.name = "y"
        var model = Onnx_ModelProto()
        model.irVersion = 8
        var opsetID = Onnx_OperatorSetIdProto()
        opsetID.version = opset
        model.opsetImport = [opsetID]
        model.graph.node = [node]
        model.graph.input = [x]
        model.graph.output = [y]
        return try! model.serializedData()
    }

    func error(_ data: Data) -> String {
        do {
            _ = try ONNXGraph(serialized: data, source: "net.onnx")
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    @Test func aOneNodeModelRuns() throws {
        let graph = try ONNXGraph(serialized: Self.model(op: "Relu"), source: "net.onnx")
        let y = graph(Tensor(shape: [1, 3, 4, 4], values: (0..<48).map { Float($0) - 24 }))
        #expect(y.scalars == (0..<48).map { max(Float($0) - 24, 0) })
    }

    @Test func unsupportedOperatorNamesTheOperatorAndNode() {
        let message = error(Self.model(op: "Einsum"))
        #expect(message.contains("net.onnx") && message.contains("the_node") && message.contains("'Einsum' is not supported"), "\(message)")
    }

    @Test func unsupportedOpsetAndDomain() {
        #expect(error(Self.model(op: "Relu", opset: 3)).contains("opset 3 is not supported"))
        #expect(error(Self.model(op: "Relu", opset: 99)).contains("opset 99 is not supported"))
        #expect(error(Self.model(op: "Relu", domain: "com.microsoft")).contains("domain 'com.microsoft'"))
    }

    @Test func missingInputAndTruncatedFile() throws {
        #expect(error(Self.model(op: "Relu", inputs: ["nowhere"])).contains("input 'nowhere' is not computed"))
        let real = try Data(contentsOf: ONNXFixtures.folder.appendingPathComponent("operators.onnx"))
        for cut in [1, 100, real.count / 2, real.count - 3] {
            let message = error(real.prefix(cut))
            #expect(message.hasPrefix("net.onnx: "), "\(cut): \(message)")
        }
        #expect(error(Data("not a model at all".utf8)).hasPrefix("net.onnx: "))
    }

    @Test func externalDataMustStayBesideTheModel() throws {
        var model = try Onnx_ModelProto(serializedBytes: Self.model(op: "Add", inputs: ["x", "w"]))
        var w = Onnx_TensorProto()
        w.name = "w"
        w.dataType = 1
        w.dims = [1]
        w.dataLocation = .external
        var location = Onnx_StringStringEntryProto()
        location.key = "location"
        location.value = "../../etc/passwd"
        w.externalData = [location]
        model.graph.initializer = [w]
        let message = "\((try? ONNXGraph(serialized: try model.serializedData(), source: "net.onnx", directory: URL(fileURLWithPath: "/tmp"))).map { _ in "loaded" } ?? "")"
        #expect(message.isEmpty)
        do {
            _ = try ONNXGraph(serialized: try model.serializedData(), source: "net.onnx", directory: URL(fileURLWithPath: "/tmp"))
        } catch {
            #expect("\(error)".contains("must be a file name relative to the model's folder"), "\(error)")
        }
    }

    /// Seeded random mutations of a real model (bytes flipped, inserted, deleted; cut short): the
    /// reader either loads the graph or throws, and a loaded graph runs or throws.
    @Test func mutatedModelsNeverCrash() throws {
        let real = try Data(contentsOf: ONNXFixtures.folder.appendingPathComponent("operators.onnx"))
        var rng = SplitMix64(seed: 7)
        var loaded = 0, ran = 0
        let rounds = Int(ProcessInfo.processInfo.environment["FOVEA_FUZZ_ROUNDS"] ?? "") ?? 300
        for _ in 0..<rounds {
            var bytes = [UInt8](real)
            for _ in 0..<(1 + Int(rng.next() % 8)) {
                let at = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 3 {
                case 0: bytes[at] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
                case 1: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: at)
                default: bytes.remove(at: at)
                }
            }
            if let graph = try? ONNXGraph(serialized: Data(bytes), source: "m.onnx") {
                loaded += 1
                if (try? graph.run(["input": Tensor(zeros: [1, 3, 20, 24])])) != nil { ran += 1 }
            }
        }
        #expect(loaded > 0)
        if ProcessInfo.processInfo.environment["FOVEA_FUZZ_ROUNDS"] != nil {
            print("ONNX fuzz: \(rounds) mutated models, \(loaded) loaded, \(ran) ran")
        }
    }
}

/// A small seeded generator for the mutation test.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E4B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
