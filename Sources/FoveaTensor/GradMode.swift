/// Switches of the autodiff recorder. They are task-local (thread-local outside Swift
/// concurrency), so concurrent work, such as parallel tests, cannot see each other's settings.
public enum GradMode {
    @TaskLocal static var disabled = false
    @TaskLocal static var overrides: [String: BackwardRule] = [:]

    /// Whether operations are recorded for backward (true unless inside ``withNoGrad(_:)``).
    public static var isEnabled: Bool { !disabled }

    /// Whether ``withBackwardRule(for:_:_:)`` replaces the rule of `primitive` here.
    public static func overrides(_ primitive: String) -> Bool { overrides[primitive] != nil }
}

/// Runs `body` without recording operations: no graph, no memory held for backward.
public func withNoGrad<T>(_ body: () throws -> T) rethrows -> T {
    try GradMode.$disabled.withValue(true, operation: body)
}

/// A backward rule: given the gradient of the output and the node (with its inputs and saved
/// tensors) and the output itself, returns one gradient per input (nil where not needed).
public typealias BackwardRule = (_ outputGrad: Tensor, _ node: Node, _ output: Tensor) -> [Tensor?]

/// Records operations of kind `primitive` (a ``Primitive/name``, e.g. `"relu"`) inside `body`
/// with `rule` as their backward rule instead of the standard one. Guided backprop uses this:
///
/// ```swift
/// let y = withBackwardRule(for: "relu", { g, node, _ in [g.relu() * node.inputs[0].greater(than: 0)] }) {
///     model(x)
/// }
/// ```
public func withBackwardRule<T>(for primitive: String, _ rule: @escaping BackwardRule,
                                _ body: () throws -> T) rethrows -> T {
    var table = GradMode.overrides
    table[primitive] = rule
    return try GradMode.$overrides.withValue(table, operation: body)
}
