import FoveaTensor

/// An error naming a layer that does not exist, with the names that do.
public struct UnknownLayerError: Error, CustomStringConvertible {
    public let name: String
    public let available: [String]

    public init(name: String, available: [String]) {
        self.name = name
        self.available = available
    }

    /// `name` is not a layer of `root`: the error lists the layers it has.
    public init(name: String, in root: Module) {
        self.init(name: name, available: root.namedModules().map(\.path).filter { !$0.isEmpty })
    }
    public var description: String {
        // Suggest the layers beside the one asked for (same parent), else the top-level ones.
        let parts = name.split(separator: ".")
        let parent = parts.dropLast().joined(separator: ".")
        func parentOf(_ path: String) -> String { path.split(separator: ".").dropLast().joined(separator: ".") }
        var near = available.filter { parentOf($0) == parent }
        if near.isEmpty { near = available.filter { !$0.contains(".") } }
        let shown = near.count > 20 ? Array(near.prefix(10)) + ["..."] + Array(near.suffix(5)) : near
        return "unknown layer '\(name)'; layers there: \(shown.joined(separator: ", ")) (see `fovea layers`)"
    }
}

/// Records the output of named layers, and the gradient flowing into those outputs, during
/// the next forward and backward passes, like PyTorch forward and full-backward hooks.
///
/// ```swift
/// let capture = try LayerCapture(model, layers: ["_blocks.15"])
/// let logits = model(x); logits.slice(axis: 1, 282..<283).sum().backward()
/// let a = capture.outputs["_blocks.15"]!, g = capture.gradients["_blocks.15"]!
/// capture.remove()
/// ```
/// A layer whose output may not hold channels on axis 1: an imported graph's value whose axis
/// order was lost (an unusual Transpose). Maps and channel rankings of it would be wrong.
public protocol AxisOrderReporting: AnyObject {
    /// Why the output's channels are not known to be on axis 1, or nil when they are.
    var axisOrderProblem: String? { get }
}

/// A layer was asked for that cannot be read as N x C x H x W.
public struct LayerAxisError: Error, CustomStringConvertible {
    public let name: String
    public let problem: String
    public var description: String { "--layer \(name): \(problem); choose another layer (`fovea layers`)" }
}

public final class LayerCapture {
    public private(set) var outputs: [String: Tensor] = [:]
    public private(set) var gradients: [String: Tensor] = [:]
    private var handles: [HookHandle] = []

    public init(_ root: Module, layers: [String], gradients wantGradients: Bool = true) throws {
        let all = root.namedModules()
        for name in layers {
            let path = root.canonicalPath(name)
            guard let m = all.first(where: { $0.path == path })?.module else {
                throw UnknownLayerError(name: name, in: root)
            }
            if let problem = (m as? AxisOrderReporting)?.axisOrderProblem { throw LayerAxisError(name: name, problem: problem) }
            // Weak: a capture released before backward must not be called back.
            handles.append(m.addForwardHook { [weak self] _, y in
                guard let self else { return nil }
                self.outputs[name] = y
                if wantGradients && y.isDifferentiable {
                    y.gradHooks.append { [weak self] g in self?.gradients[name] = g }
                }
                return nil
            })
        }
    }

    /// Uninstalls the hooks (also done when the capture is released).
    public func remove() {
        handles.forEach { $0.remove() }
        handles = []
    }

    deinit { remove() }
}

extension Module {
    /// Each module's path and output shape, in the order they first run, for an input of `shape`.
    public func layerShapes(input shape: [Int]) -> [(path: String, shape: [Int])] {
        var seen: [(String, [Int])] = []
        let all = namedModules().filter { !$0.path.isEmpty }
        // A module called several times (torchvision's shared `relu`) is listed once, with the
        // output of its last call: what a PyTorch hook that stores the output would keep.
        var position: [String: Int] = [:]
        let handles = all.map { path, m in
            m.addForwardHook { _, y in
                if let i = position[path] { seen[i].1 = y.shape } else { position[path] = seen.count; seen.append((path, y.shape)) }
                return nil
            }
        }
        _ = withNoGrad { self(Tensor(zeros: shape)) }
        handles.forEach { $0.remove() }
        return seen
    }
}
