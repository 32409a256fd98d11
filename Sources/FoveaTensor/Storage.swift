import Foundation

/// A contiguous, heap-allocated buffer of `Float`, shared by reference between tensors that
/// alias it (for example a reshape).
public final class Storage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int
    /// Whether the buffer goes back to the pool when released (else straight to the system).
    private let pooled: Bool

    /// Zero-filled storage of `count` floats.
    public init(zeros count: Int) {
        self.count = count
        pointer = BufferPool.take(count)
        pointer.update(repeating: 0, count: count)
        pooled = true
    }

    /// Zero-filled storage that may never be read: fresh pages from calloc, which the kernel
    /// maps to zero only when touched, released straight to the system. For models built only
    /// for their shapes (`fovea models` lists 40 architectures; with pooled buffers each one
    /// cleared the weights the one before it left behind).
    public init(untouchedZeros count: Int) {
        self.count = count
        guard let raw = calloc(max(count, 1), MemoryLayout<Float>.stride) else { fatalError("out of memory: \(count * 4) bytes") }
        pointer = raw.bindMemory(to: Float.self, capacity: count)
        pooled = false
    }

    /// Storage whose contents are written by `fill`. With `zeroed: false` the buffer starts
    /// with arbitrary contents, for kernels that write every element.
    public init(count: Int, zeroed: Bool = true, fill: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        self.count = count
        pointer = BufferPool.take(count)
        if zeroed { pointer.update(repeating: 0, count: count) }
        pooled = true
        try fill(UnsafeMutableBufferPointer(start: pointer, count: count))
    }

    deinit {
        if pooled { BufferPool.give(pointer, count: count) } else { free(pointer) }
    }

    public var buffer: UnsafeMutableBufferPointer<Float> { .init(start: pointer, count: count) }
}

/// Recycles large float buffers by exact size. Networks allocate the same activation and
/// scratch sizes on every pass; reusing them avoids the page faults and kernel zeroing that
/// fresh multi-megabyte allocations cost. Holds at most `limitBytes` of idle buffers, and never
/// more than the most the process has had in use at once (`peakLiveBytes`): a training step or
/// an AdaIN pass, which keep their activations alive, get their whole working set back on the
/// next pass, while inference without gradients (two activations alive at a time) keeps
/// little. (Capped only by a sixth of memory, the idle buffers of VGG-16's batched
/// faithfulness passes at 240x240 took `fovea saliency` from 1.66 to 3.3 GB peak RSS.)
enum BufferPool {
    static let minimumCount = 1 << 14               // smaller buffers go straight to malloc
    /// A sixth of physical memory, at most 4 GB (`FOVEA_POOL_MB` overrides): a Johnson training
    /// step and AdaIN at 512x512 keep more than 1 GB of activations alive at once, and with a
    /// 1 GB pool each pass faulted the rest in afresh (AdaIN 3.5 s at 1 GB, 1.8 s at 4 GB; peak
    /// RSS of `fovea bench-style` 4.4 -> 6.4 GB).
    static let limitBytes: Int = {
        if let mb = ProcessInfo.processInfo.environment["FOVEA_POOL_MB"].flatMap(Int.init), mb >= 0 { return mb << 20 }
        return min(Int(ProcessInfo.processInfo.physicalMemory) / 6, 4 << 30)
    }()
    nonisolated(unsafe) static var idle: [Int: [UnsafeMutablePointer<Float>]] = [:]
    nonisolated(unsafe) static var idleBytes = 0
    /// Bytes of pooled-size buffers handed out and not yet given back, and their high-water mark.
    nonisolated(unsafe) static var liveBytes = 0, peakLiveBytes = 0
    static let lock = NSLock()

    static func take(_ count: Int) -> UnsafeMutablePointer<Float> {
        guard count >= minimumCount else { return .allocate(capacity: max(count, 1)) }
        return reuse(count) ?? allocateLarge(count)
    }

    /// An idle buffer of exactly `count` floats, if the pool holds one; counts it as live.
    private static func reuse(_ count: Int) -> UnsafeMutablePointer<Float>? {
        lock.withLock {
            liveBytes += count * 4
            peakLiveBytes = max(peakLiveBytes, liveBytes)
            guard let p = idle[count]?.popLast() else { return nil }
            idleBytes -= count * 4
            return p
        }
    }

    /// Pooled buffers are 64-byte aligned (a cache line, an AVX-512 vector).
    static func allocateLarge(_ count: Int) -> UnsafeMutablePointer<Float> {
        let bytes = count * MemoryLayout<Float>.stride
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else { fatalError("out of memory: \(bytes) bytes") }
        return raw.bindMemory(to: Float.self, capacity: count)
    }

    static func give(_ pointer: UnsafeMutablePointer<Float>, count: Int) {
        guard count >= minimumCount else { pointer.deallocate(); return }
        // Pooled sizes come from posix_memalign (allocateLarge): free() releases them.
        let evicted: [UnsafeMutablePointer<Float>] = lock.withLock {
            liveBytes -= count * 4
            let limit = min(limitBytes, peakLiveBytes)
            // Over the limit: free idle buffers of other sizes, largest first, until this fits.
            var out: [UnsafeMutablePointer<Float>] = []
            if idleBytes + count * 4 > limit {
                for size in idle.keys.sorted(by: >) where size != count {
                    while idleBytes + count * 4 > limit, let p = idle[size]?.popLast() {
                        out.append(p)
                        idleBytes -= size * 4
                    }
                    if idle[size]?.isEmpty == true { idle[size] = nil }
                }
            }
            guard idleBytes + count * 4 <= limit else { out.append(pointer); return out }
            idle[count, default: []].append(pointer)
            idleBytes += count * 4
            return out
        }
        evicted.forEach { free($0) }
    }

    /// A scratch buffer for the duration of `body` (im2col matrices and the like).
    static func withScratch<T>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> T) rethrows -> T {
        let p = take(count)
        defer { give(p, count: count) }
        return try body(p)
    }
}
