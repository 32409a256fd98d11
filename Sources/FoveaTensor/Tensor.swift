import Foundation

/// An N-dimensional, row-major, contiguous Float32 tensor. Images are NCHW.
///
/// Tensors are values in spirit: every operation returns a new tensor. A tensor produced by an
/// operation while gradient recording is on (``GradMode``) and at least one input takes part in
/// differentiation remembers that operation in ``node``; ``backward(_:)`` walks those records.
///
/// ```swift
/// let x = Tensor(shape: [2, 2], values: [1, 2, 3, 4], requiresGrad: true)
/// let y = (x * x).sum()
/// y.backward()          // x.grad == 2x
/// ```
public final class Tensor: @unchecked Sendable {
    public let shape: [Int]
    public let storage: Storage
    /// Whether gradients with respect to this leaf are accumulated into ``grad``.
    public var requiresGrad: Bool
    /// Accumulated gradient (leaves with `requiresGrad`, or tensors with ``retainsGrad``).
    public var grad: Tensor?
    /// Keep the gradient of a non-leaf tensor in ``grad`` after backward.
    public var retainsGrad = false
    /// Called with this tensor's gradient once backward has finished accumulating it.
    public var gradHooks: [(Tensor) -> Void] = []
    /// The operation that made this tensor, when it is part of a recorded graph.
    public internal(set) var node: Node?

    public init(shape: [Int], storage: Storage, requiresGrad: Bool = false) {
        check(shape.reduce(1, *) == storage.count,
                     "shape \(shape) needs \(shape.reduce(1, *)) elements, storage has \(storage.count)")
        self.shape = shape
        self.storage = storage
        self.requiresGrad = requiresGrad
    }

    public convenience init(shape: [Int], values: [Float], requiresGrad: Bool = false) {
        check(shape.reduce(1, *) == values.count,
                     "shape \(shape) needs \(shape.reduce(1, *)) values, got \(values.count)")
        let storage = Storage(count: values.count, zeroed: false) { buf in
            _ = buf.initialize(from: values)
        }
        self.init(shape: shape, storage: storage, requiresGrad: requiresGrad)
    }

    /// A tensor of zeros.
    public convenience init(zeros shape: [Int], requiresGrad: Bool = false) {
        self.init(shape: shape, storage: Storage(zeros: shape.reduce(1, *)), requiresGrad: requiresGrad)
    }

    /// A tensor filled with one value.
    public convenience init(repeating value: Float, shape: [Int]) {
        let storage = Storage(count: shape.reduce(1, *), zeroed: false) { $0.update(repeating: value) }
        self.init(shape: shape, storage: storage)
    }

    /// A tensor whose elements are written by `fill`, starting from zeros.
    public convenience init(shape: [Int], fill: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        self.init(shape: shape, storage: try Storage(count: shape.reduce(1, *), fill: fill))
    }

    /// A tensor whose elements are all written by `fill` (the buffer starts with arbitrary contents).
    public convenience init(overwriting shape: [Int], fill: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        self.init(shape: shape, storage: try Storage(count: shape.reduce(1, *), zeroed: false, fill: fill))
    }

    /// A 0-d tensor.
    public convenience init(scalar: Float) { self.init(shape: [], values: [scalar]) }

    public var count: Int { storage.count }
    public var rank: Int { shape.count }
    /// A copy of the elements, row-major.
    public var scalars: [Float] { Array(storage.buffer) }
    /// The only element of a one-element tensor.
    public var item: Float {
        check(count == 1, "item needs a one-element tensor, shape is \(shape)")
        return storage.pointer[0]
    }
    public var buffer: UnsafeMutableBufferPointer<Float> { storage.buffer }
    /// Row-major strides in elements.
    public var strides: [Int] { Tensor.strides(of: shape) }

    public static func strides(of shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var s = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[i] = s
            s *= shape[i]
        }
        return strides
    }

    /// The same elements detached from any recorded graph.
    public func detached() -> Tensor { Tensor(shape: shape, storage: storage) }

    /// A deep copy of the elements, detached.
    public func copy() -> Tensor {
        let src = storage.pointer
        return Tensor(overwriting: shape) { $0.baseAddress!.update(from: src, count: count) }
    }

    /// Whether gradients flow through this tensor.
    public var isDifferentiable: Bool { requiresGrad || node != nil }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = scalars.prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor(shape: \(shape), [\(head)\(count > 8 ? ", ..." : "")])"
    }
}
