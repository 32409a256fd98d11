import Foundation
import FoveaTensor

/// A forward hook receives the module and its output (a pre-hook: its input).
public typealias ForwardHook = (_ module: Module, _ tensor: Tensor) -> Tensor?

/// Removes the forward hook it was returned for.
public final class HookHandle {
    weak var module: Module?
    let id: Int
    init(module: Module, id: Int) { self.module = module; self.id = id }
    public func remove() {
        module?.forwardHooks.removeAll { $0.id == id }
        module?.forwardPreHooks.removeAll { $0.id == id }
    }
}

/// A network layer or a container of layers, mirroring `torch.nn.Module`.
///
/// Parameters and buffers are registered under the names PyTorch uses in state dicts; children
/// under their attribute names, so a module's path (`_blocks.15`, `layer4.1`) is the PyTorch
/// module path and every parameter's full key is the PyTorch state-dict key.
///
/// Subclasses override ``forward(_:)``; callers use `module(x)`, which also runs hooks.
open class Module {
    /// Training mode (batch statistics in batch norm, dropout active). Set through ``train(_:)``.
    public private(set) var isTraining = false
    public private(set) var parameters: [(name: String, tensor: Tensor)] = []
    public private(set) var buffers: [(name: String, tensor: Tensor)] = []
    public private(set) var children: [(name: String, module: Module)] = []
    /// Forward hooks (after forward, see the output) and pre-hooks (before forward, see the
    /// input), by id, each called in the order added.
    var forwardHooks: [(id: Int, hook: ForwardHook)] = []
    var forwardPreHooks: [(id: Int, hook: ForwardHook)] = []
    /// Whether a hook watches this module (so its output must exist as such).
    var hasHooks: Bool { !forwardHooks.isEmpty || !forwardPreHooks.isEmpty }
    nonisolated(unsafe) static var nextHookID = 0
    static let hookLock = NSLock()

    public init() {}

    /// What kind of layer this is, for listings (the class name; imported graphs: the operator).
    open var kindDescription: String { String(describing: type(of: self)) }

    /// The computation of this module. Call the module (`module(x)`) rather than this.
    open func forward(_ x: Tensor) -> Tensor { x }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        // A pass that has computed everything it was asked for skips the rest (see
        // ``Module/outputs(of:for:)``).
        if ForwardStop.current?.isStopped == true { return x }
        var x = x
        for (_, hook) in forwardPreHooks { if let replaced = hook(self, x) { x = replaced } }
        return afterForward(forward(x))
    }

    /// `y` after the forward hooks (each may replace it).
    func afterForward(_ y: Tensor) -> Tensor {
        var y = y
        for (_, hook) in forwardHooks { if let replaced = hook(self, y) { y = replaced } }
        return y
    }

    /// Adds a hook called after `forward` with the module and its output, as PyTorch's
    /// `register_forward_hook`; a hook may return a replacement output. Keep the handle to remove it.
    @discardableResult
    public func addForwardHook(_ hook: @escaping ForwardHook) -> HookHandle {
        let id = Module.newHookID()
        forwardHooks.append((id, hook))
        return HookHandle(module: self, id: id)
    }

    /// Adds a hook called before `forward` with the module and its input, as PyTorch's
    /// `register_forward_pre_hook`; a hook may return a replacement input.
    @discardableResult
    public func addForwardPreHook(_ hook: @escaping ForwardHook) -> HookHandle {
        let id = Module.newHookID()
        forwardPreHooks.append((id, hook))
        return HookHandle(module: self, id: id)
    }

    static func newHookID() -> Int { hookLock.withLock { nextHookID += 1; return nextHookID } }

    /// Registers a trainable parameter under `name` and returns it. Its buffer lives as long as
    /// the module and leaves the buffer pool's count (``Storage/markLongLived()``).
    @discardableResult
    public func registerParameter(_ name: String, _ tensor: Tensor) -> Tensor {
        tensor.requiresGrad = true
        tensor.storage.markLongLived()
        parameters.append((name, tensor))
        return tensor
    }

    /// Registers a non-trainable state tensor (running statistics) under `name`.
    @discardableResult
    public func registerBuffer(_ name: String, _ tensor: Tensor) -> Tensor {
        tensor.storage.markLongLived()
        buffers.append((name, tensor))
        return tensor
    }

    /// Registers a child module under `name` and returns it.
    @discardableResult
    public func registerChild<M: Module>(_ name: String, _ module: M) -> M {
        children.append((name, module))
        return module
    }

    /// Puts this module and its descendants in training (true) or evaluation (false) mode.
    public func train(_ on: Bool = true) {
        isTraining = on
        for (_, c) in children { c.train(on) }
    }

    public func eval() { train(false) }

    /// This module and all descendants with their paths, depth-first, in registration order.
    /// The root's path is "".
    public func namedModules(prefix: String = "") -> [(path: String, module: Module)] {
        var out: [(String, Module)] = [(prefix, self)]
        for (name, child) in children {
            out += child.namedModules(prefix: prefix.isEmpty ? name : "\(prefix).\(name)")
        }
        return out
    }

    /// Whether independent passes may run through this module on several threads at once: eval
    /// mode (no running statistics updated), no parameter that collects a gradient, and no
    /// hook anywhere (a hook's captures are not made for concurrent calls).
    public var runsConcurrently: Bool {
        namedModules().allSatisfy { !$0.module.isTraining && !$0.module.hasHooks }
            && namedParameters().allSatisfy { !$0.tensor.requiresGrad }
    }

    /// Every parameter with its full state-dict key.
    public func namedParameters() -> [(key: String, tensor: Tensor)] {
        namedModules().flatMap { path, m in m.parameters.map { (Module.join(path, $0.name), $0.tensor) } }
    }

    /// Every parameter and buffer with its full state-dict key (what `state_dict()` holds).
    public func stateDict() -> [(key: String, tensor: Tensor)] {
        namedModules().flatMap { path, m in
            (m.parameters + m.buffers).map { (Module.join(path, $0.name), $0.tensor) }
        }
    }

    /// Other names this model's layers answer to (alias -> module path): a Keras-built network's
    /// `block4_conv1`, or the style-transfer papers' `relu4_1`. Only the root's aliases count.
    open var layerAliases: [String: String] { [:] }

    /// The module path `name` stands for: itself, or what the alias names.
    public func canonicalPath(_ name: String) -> String { layerAliases[name] ?? name }

    /// The descendant at a PyTorch module path (or an alias of one), or nil.
    public func module(at path: String) -> Module? {
        if path.isEmpty { return self }
        if let target = layerAliases[path] { return module(at: target) }
        // Imported graphs name layers by value names that may contain dots.
        if let exact = children.first(where: { $0.name == path })?.module { return exact }
        var current: Module = self
        for part in path.split(separator: ".") {
            guard let next = current.children.first(where: { $0.name == part })?.module else { return nil }
            current = next
        }
        return current
    }

    /// Whether parameters take part in differentiation (freeze them for input-gradient work).
    public func setRequiresGrad(_ on: Bool) {
        for (_, p) in namedParameters() { p.requiresGrad = on }
    }

    static func join(_ a: String, _ b: String) -> String { a.isEmpty ? b : "\(a).\(b)" }
}
