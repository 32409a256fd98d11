/// A contiguous, heap-allocated buffer of `Float`, shared by reference between tensors that
/// alias it (for example a reshape).
public final class Storage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    /// Uninitialised-then-zeroed storage of `count` floats.
    public init(zeros count: Int) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: count)
    }

    /// Storage whose contents are written by `fill` (no zeroing first).
    public init(count: Int, fill: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: count)
        try fill(UnsafeMutableBufferPointer(start: pointer, count: count))
    }

    deinit { pointer.deallocate() }

    public var buffer: UnsafeMutableBufferPointer<Float> { .init(start: pointer, count: count) }
}
