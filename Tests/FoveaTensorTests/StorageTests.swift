import Testing
@testable import FoveaTensor

/// The buffer pool hands out zeros when asked for zeros, whichever way the buffer was made.
struct StorageTests {
    @Test func zerosAreZeroFreshRecycledAndUntouched() {
        let count = BufferPool.minimumCount * 3 + 5
        do {
            let used = Storage(count: count, zeroed: false) { $0.update(repeating: 7) }
            #expect(used.buffer.allSatisfy { $0 == 7 })
        }                                                        // back in the pool
        let recycled = Storage(zeros: count)
        #expect(recycled.buffer.allSatisfy { $0 == 0 })
        let untouched = Storage(untouchedZeros: count)
        #expect(untouched.buffer.allSatisfy { $0 == 0 })
        let small = Storage(zeros: 17)
        #expect(small.buffer.allSatisfy { $0 == 0 })
        // Pooled buffers are cache-line aligned.
        let pooled = Storage(count: count + 64, zeroed: false) { _ in }
        #expect(Int(bitPattern: pooled.pointer) % 64 == 0)
    }

    /// A buffer given back is kept for the next request of its size, and the pool never holds
    /// more idle bytes than the process has had in use at once (nor than its limit).
    @Test func givenBackBuffersAreReusedWithinThePeakInUse() {
        let count = BufferPool.minimumCount * 5 + 3
        let first = BufferPool.take(count)
        BufferPool.give(first, count: count)
        let second = BufferPool.take(count)
        #expect(second == first)
        BufferPool.give(second, count: count)
        #expect(BufferPool.lock.withLock { BufferPool.idleBytes <= min(BufferPool.limitBytes, BufferPool.peakLiveBytes) })
    }
}
