import Foundation

/// A contiguous, heap-allocated buffer of `Float`, shared by reference between tensors that
/// alias it (for example a reshape).
public final class Storage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    /// Zero-filled storage of `count` floats.
    public init(zeros count: Int) {
        self.count = count
        pointer = BufferPool.take(count)
        pointer.update(repeating: 0, count: count)
    }

    /// Storage whose contents are written by `fill`. With `zeroed: false` the buffer starts
    /// with arbitrary contents, for kernels that write every element.
    public init(count: Int, zeroed: Bool = true, fill: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        self.count = count
        pointer = BufferPool.take(count)
        if zeroed { pointer.update(repeating: 0, count: count) }
        try fill(UnsafeMutableBufferPointer(start: pointer, count: count))
    }

    deinit { BufferPool.give(pointer, count: count) }

    public var buffer: UnsafeMutableBufferPointer<Float> { .init(start: pointer, count: count) }
}

/// Recycles large float buffers by exact size. Networks allocate the same activation and
/// scratch sizes on every pass; reusing them avoids the page faults and kernel zeroing that
/// fresh multi-megabyte allocations cost. Holds at most `limitBytes` of idle buffers.
enum BufferPool {
    static let minimumCount = 1 << 14               // smaller buffers go straight to malloc
    static let limitBytes = 1 << 30
    nonisolated(unsafe) static var idle: [Int: [UnsafeMutablePointer<Float>]] = [:]
    nonisolated(unsafe) static var idleBytes = 0
    static let lock = NSLock()

    static func take(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count >= minimumCount {
            let reused: UnsafeMutablePointer<Float>? = lock.withLock {
                guard let p = idle[count]?.popLast() else { return nil }
                idleBytes -= count * 4
                return p
            }
            if let reused { return reused }
        }
        return .allocate(capacity: max(count, 1))
    }

    static func give(_ pointer: UnsafeMutablePointer<Float>, count: Int) {
        guard count >= minimumCount else { pointer.deallocate(); return }
        let evicted: [UnsafeMutablePointer<Float>] = lock.withLock {
            // Over the limit: free idle buffers of other sizes, largest first, until this fits.
            var out: [UnsafeMutablePointer<Float>] = []
            if idleBytes + count * 4 > limitBytes {
                for size in idle.keys.sorted(by: >) where size != count {
                    while idleBytes + count * 4 > limitBytes, let p = idle[size]?.popLast() {
                        out.append(p)
                        idleBytes -= size * 4
                    }
                    if idle[size]?.isEmpty == true { idle[size] = nil }
                }
            }
            guard idleBytes + count * 4 <= limitBytes else { out.append(pointer); return out }
            idle[count, default: []].append(pointer)
            idleBytes += count * 4
            return out
        }
        evicted.forEach { $0.deallocate() }
    }

    /// A scratch buffer for the duration of `body` (im2col matrices and the like).
    static func withScratch<T>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> T) rethrows -> T {
        let p = take(count)
        defer { give(p, count: count) }
        return try body(p)
    }
}
