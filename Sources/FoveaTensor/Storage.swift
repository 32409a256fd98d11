import Foundation
import CFoveaParallel

/// A contiguous, heap-allocated buffer of `Float`, shared by reference between tensors that
/// alias it (for example a reshape).
public final class Storage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int
    /// Whether the buffer goes back to the pool when released (else straight to the system).
    private var pooled: Bool
    /// Whether ``markLongLived()`` took this buffer out of the pool.
    private(set) var isLongLived = false
    /// The storage this one is a window of, kept alive by it (nil: this one owns its buffer).
    private let owner: Storage?

    /// Zero-filled storage of `count` floats.
    public init(zeros count: Int) {
        self.count = count
        pointer = BufferPool.take(count)
        pointer.update(repeating: 0, count: count)
        pooled = true
        owner = nil
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
        owner = nil
    }

    /// Storage whose contents are written by `fill`. With `zeroed: false` the buffer starts
    /// with arbitrary contents, for kernels that write every element.
    public init(count: Int, zeroed: Bool = true, fill: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        self.count = count
        pointer = BufferPool.take(count)
        if zeroed { pointer.update(repeating: 0, count: count) }
        pooled = true
        owner = nil
        try fill(UnsafeMutableBufferPointer(start: pointer, count: count))
    }

    /// Floats `offset ..< offset + count` of `owner`, shared (no copy), for as long as this lives.
    public init(window owner: Storage, offset: Int, count: Int) {
        precondition(offset >= 0 && offset + count <= owner.count, "storage window \(offset)..<\(offset + count) of \(owner.count)")
        self.owner = owner
        self.count = count
        pointer = owner.pointer + offset
        pooled = false
    }

    /// Takes a buffer that lives as long as its model (a parameter, a running statistic) out of
    /// the pool's accounting: it stops counting as in use, and as part of the peak, so the
    /// pool's budget for idle buffers follows the passes' working memory, not the weights'; it
    /// is freed straight to the system. (VGG-16's 528 MiB of weights, counted, left about
    /// 32 MiB of budget for the buffers a pass cycles through: each forward pass made 260 MiB
    /// of them afresh, each forward+backward pass 480 MiB.) Call it before the storage is shared.
    public func markLongLived() {
        guard pooled, owner == nil, count >= BufferPool.minimumCount else { return }
        pooled = false
        isLongLived = true
        BufferPool.forget(count)
    }

    deinit {
        guard owner == nil else { return }
        if pooled { BufferPool.give(pointer, count: count) } else { free(pointer) }
    }

    public var buffer: UnsafeMutableBufferPointer<Float> { .init(start: pointer, count: count) }
}

/// Recycles large float buffers by exact size. Networks allocate the same activation and
/// scratch sizes on every pass; reusing them avoids the page faults and kernel zeroing that
/// fresh multi-megabyte allocations cost. Holds at most `limitBytes` of idle buffers, and
/// never lets buffers in use plus idle ones exceed the most the process has had in use at once
/// (`peakLiveBytes`, weights and other long-lived buffers left out) plus a slack (half of it,
/// at most 64 MiB): a fresh allocation first frees the least recently used idle buffers to stay
/// under it. A training step or an AdaIN pass, which keep their activations alive, get their
/// whole working set back on the next pass, while a job whose sizes change (a gradient pass,
/// then batches of 8) holds little more than it would without a pool at its peak. (Capped only by a sixth
/// of memory, VGG-16 saliency with faithfulness peaked at 3.3 GB RSS; with idle <= peak in use,
/// 2.07 GB; with in use + idle <= peak in use, 1.32 GB, and 1.38 GB with no pool at all.)
public enum BufferPool {
    static let minimumCount = 1 << 14               // smaller buffers go straight to malloc
    /// A sixth of physical memory, at most 4 GB (`FOVEA_POOL_MB` overrides): a Johnson training
    /// step and AdaIN at 512x512 keep more than 1 GB of activations alive at once, and with a
    /// 1 GB pool each pass faulted the rest in afresh (AdaIN 3.5 s at 1 GB, 1.8 s at 4 GB; peak
    /// RSS of `fovea bench-style` 4.4 -> 6.4 GB).
    static let limitBytes: Int = {
        if let mb = ProcessInfo.processInfo.environment["FOVEA_POOL_MB"].flatMap(Int.init), mb >= 0 { return mb << 20 }
        return min(Int(ProcessInfo.processInfo.physicalMemory) / 6, 4 << 30)
    }()
    nonisolated(unsafe) static var state = PoolState(limitBytes: limitBytes)
    static let lock = NSLock()

    static func take(_ count: Int) -> UnsafeMutablePointer<Float> {
        guard count >= minimumCount else { return .allocate(capacity: max(count, 1)) }
        let (reused, evicted) = lock.withLock { state.take(count) }
        evicted.forEach { free($0.pointer) }
        return reused ?? allocateLarge(count)
    }

    /// Pooled buffers are 64-byte aligned (a cache line, an AVX-512 vector). They come from
    /// malloc, whose heap keeps blocks under 32 MB once freed and hands their pages out again
    /// without faults. (Mapping each buffer from the system and unmapping it when let go kept
    /// the resident size at the pool's bookkeeping, a Johnson training step at 2.08 GB instead of
    /// 2.33, but VGG-16's passes ran 20-30% slower: each fresh size faulted its pages in.)
    static func allocateLarge(_ count: Int) -> UnsafeMutablePointer<Float> {
        let bytes = count * MemoryLayout<Float>.stride
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else { fatalError("out of memory: \(bytes) bytes") }
        return raw.bindMemory(to: Float.self, capacity: count)
    }

    /// For a program's start: makes the C library map blocks of 4 MB or more from the system
    /// and unmap them when freed (glibc), rather than keep freed ones resident in its heap. The
    /// pool already keeps what passes reuse, so the heap's copies only raised peak RSS (same
    /// binary, A/B: Gatys 512 1,140 -> 971 MiB, a fashion-cnn epoch 734-779 -> 584, a Johnson
    /// training step 2,260 -> 2,140; VGG-16 passes 880 MiB and their times either way).
    public static func mapLargeBlocksFromSystem() { _ = fovea_map_blocks_from(4 << 20) }

    /// A buffer of `count` floats that will never come back (``Storage/markLongLived()``).
    static func forget(_ count: Int) { lock.withLock { state.forget(count) } }

    static func give(_ pointer: UnsafeMutablePointer<Float>, count: Int) {
        guard count >= minimumCount else { pointer.deallocate(); return }
        // Pooled sizes come from posix_memalign (allocateLarge): free() releases them.
        lock.withLock { state.give(pointer, count: count) }.forEach { free($0.pointer) }
    }

    /// A scratch buffer for the duration of `body` (im2col matrices and the like).
    static func withScratch<T>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> T) rethrows -> T {
        let p = take(count)
        defer { give(p, count: count) }
        return try body(p)
    }
}

/// The pool's bookkeeping, without locks or allocation: which idle buffers it keeps and which it
/// lets go (the caller frees those). Bytes are 4 per element.
struct PoolState {
    let limitBytes: Int
    /// Idle bytes allowed beyond the peak in use: half the peak, at most `maxSlackBytes`. A pass
    /// gives back and takes again the same buffers in the same order; when they do not all
    /// fit, the least recently given back one is always the next one needed, and every fresh
    /// allocation evicts it: a VGG-16 forward+backward pass, its weights out of the count,
    /// still made 95 MiB afresh per pass with no slack or 16 MiB, and none with 64 MiB. Half
    /// the peak keeps small jobs small (a fixed 64 MiB raised feature visualisation's peak RSS
    /// from 152 to 214 MiB).
    var maxSlackBytes = 64 << 20
    var slackBytes: Int { min(maxSlackBytes, peakLiveBytes / 2) }
    /// Idle buffers by size, each with the tick it was given back at, oldest first.
    var idle: [Int: [(pointer: UnsafeMutablePointer<Float>, tick: Int)]] = [:]
    var idleBytes = 0, tick = 0
    /// Bytes of pooled-size buffers handed out and not yet given back, and their high-water mark.
    var liveBytes = 0, peakLiveBytes = 0

    typealias Buffer = (pointer: UnsafeMutablePointer<Float>, count: Int)

    /// An idle buffer of exactly `count` floats if one is kept (nil: allocate one), counted as
    /// in use, and the idle buffers to free, least recently used first, so that in use + idle
    /// stays <= the peak in use. (Handing a request the smallest idle buffer of under twice its
    /// size raised VGG-16 saliency with faithfulness from 1.30 to 1.38 GB peak RSS.)
    mutating func take(_ count: Int) -> (UnsafeMutablePointer<Float>?, evicted: [Buffer]) {
        liveBytes += count * 4
        peakLiveBytes = max(peakLiveBytes, liveBytes)
        if let entry = idle[count]?.popLast() {
            if idle[count]?.isEmpty == true { idle[count] = nil }
            idleBytes -= count * 4
            return (entry.pointer, [])
        }
        return (nil, evict(toFit: 0, within: peakLiveBytes + slackBytes - liveBytes))
    }

    /// Drops a buffer in use from the count for good, and from the peak, which it most likely
    /// set (weights are made while little else is in use); if it did not, the peak comes out
    /// lower than it was, which only keeps fewer idle buffers.
    mutating func forget(_ count: Int) {
        liveBytes -= count * 4
        peakLiveBytes = max(liveBytes, peakLiveBytes - count * 4)
    }

    /// Keeps `pointer` idle if it fits under min(limit, peak in use + slack) after evicting older idle
    /// buffers; returns what to free (`pointer` itself when it does not fit).
    mutating func give(_ pointer: UnsafeMutablePointer<Float>, count: Int) -> [Buffer] {
        liveBytes -= count * 4
        let limit = min(limitBytes, peakLiveBytes + slackBytes)
        var out = evict(toFit: count * 4, within: limit)
        guard idleBytes + count * 4 <= limit else { out.append((pointer, count)); return out }
        tick += 1
        idle[count, default: []].append((pointer, tick))
        idleBytes += count * 4
        return out
    }

    /// Removes the least recently given back idle buffers until `bytes` more fit under `limit`
    /// idle bytes: those of a phase that has ended (a gradient pass's, once batches of 8 run)
    /// go first, those of the pass that repeats last.
    private mutating func evict(toFit bytes: Int, within limit: Int) -> [Buffer] {
        var out: [Buffer] = []
        while idleBytes + bytes > limit,
              let size = idle.min(by: { $0.value[0].tick < $1.value[0].tick })?.key {
            out.append((idle[size]!.removeFirst().pointer, size))
            if idle[size]!.isEmpty { idle[size] = nil }
            idleBytes -= size * 4
        }
        return out
    }
}
