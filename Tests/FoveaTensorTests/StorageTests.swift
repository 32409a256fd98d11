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
    /// more idle bytes than the process has had in use at once plus the slack (nor than its limit).
    @Test func givenBackBuffersAreReusedWithinThePeakInUse() {
        let count = BufferPool.minimumCount * 5 + 3
        let first = BufferPool.take(count)
        BufferPool.give(first, count: count)
        let second = BufferPool.take(count)
        #expect(second == first)
        BufferPool.give(second, count: count)
        #expect(BufferPool.lock.withLock { BufferPool.state.idleBytes <= min(BufferPool.limitBytes, BufferPool.state.peakLiveBytes + BufferPool.state.slackBytes) })
    }

    /// A fresh allocation frees idle buffers of other sizes so that in use + idle stays within
    /// the peak in use (a gradient pass's buffers do not linger beside a batched pass's), while
    /// a repeated pass gets its own buffers back; and idle bytes never pass the limit.
    @Test func freshAllocationsEvictIdleBuffersBeyondThePeakInUse() {
        var pool = PoolState(limitBytes: 1000)
        pool.maxSlackBytes = 0
        let a = UnsafeMutablePointer<Float>(bitPattern: 0x1000)!, b = UnsafeMutablePointer<Float>(bitPattern: 0x2000)!
        #expect(pool.take(100).0 == nil)                 // 400 bytes in use: the peak
        #expect(pool.give(a, count: 100).isEmpty)        // kept idle
        let (again, none) = pool.take(100)               // the same size again: reused
        #expect(again == a && none.isEmpty)
        #expect(pool.give(a, count: 100).isEmpty)
        let (fresh, evicted) = pool.take(40)             // 160 in use + 400 idle > 400 peak
        #expect(fresh == nil && evicted.map(\.pointer) == [a] && evicted.map(\.count) == [100] && pool.idleBytes == 0)
        #expect(pool.give(b, count: 40).isEmpty)         // 160 idle <= 400 peak
        #expect(pool.liveBytes == 0 && pool.idleBytes == 160 && pool.peakLiveBytes == 400)
        // Over the limit (250 elements = 1000 bytes ... 300 = 1200): freed at once.
        _ = pool.take(300)
        #expect(pool.give(a, count: 300).contains { $0.pointer == a && $0.count == 300 })
        #expect(pool.idleBytes <= pool.limitBytes)
    }

    /// With slack, a pass that cycles through more buffers than its peak in use gets them all
    /// back on the next pass; without it, each fresh allocation evicts the buffer needed next.
    @Test func slackKeepsACyclingPassFromEvictingWhatItNeedsNext() {
        func pass(_ pool: inout PoolState, _ buffers: [UnsafeMutablePointer<Float>]) -> Int {
            var fresh = 0
            for (i, b) in buffers.enumerated() {                 // sizes 100, 101, 102, 103: one in use at a time
                if pool.take(100 + i).0 == nil { fresh += 1 }
                _ = pool.give(b, count: 100 + i)
            }
            return fresh
        }
        let buffers = (1...4).map { UnsafeMutablePointer<Float>(bitPattern: $0 * 0x1000)! }
        var tight = PoolState(limitBytes: 1 << 20), loose = PoolState(limitBytes: 1 << 20)
        tight.maxSlackBytes = 0
        // An activation of 700 floats stays in use through both passes: peak 3,212 bytes, half
        // of it (1,606) covers the 1,212 idle bytes the pass leaves when it takes its last size.
        #expect(tight.take(700).0 == nil && loose.take(700).0 == nil)
        #expect(pass(&tight, buffers) == 4 && pass(&loose, buffers) == 4)
        #expect(pass(&tight, buffers) == 4)                      // all made afresh again
        #expect(pass(&loose, buffers) == 0)                      // all reused
        #expect(loose.slackBytes == 1606 && loose.idleBytes == 1624 && tight.idleBytes == 412)
    }

    /// A long-lived buffer leaves the count and the peak: the budget for idle buffers is then
    /// what passes use, not the weights.
    @Test func longLivedBuffersLeaveTheCountAndThePeak() {
        var pool = PoolState(limitBytes: 1 << 20)
        _ = pool.take(1000)                                      // a weight: 4000 bytes
        _ = pool.take(50)                                        // an activation beside it
        #expect(pool.peakLiveBytes == 4200)
        pool.forget(1000)
        #expect(pool.liveBytes == 200 && pool.peakLiveBytes == 200)
        let storage = Storage(count: BufferPool.minimumCount * 2, zeroed: false) { _ in }
        #expect(!storage.isLongLived)
        storage.markLongLived()
        #expect(storage.isLongLived)
        #expect(!Storage(zeros: 17).isLongLived)                 // below the pool's sizes: untouched
    }
}
