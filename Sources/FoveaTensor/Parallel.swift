import CFoveaParallel
import Dispatch

/// Fork-join over every core: `run(parts) { part in ... }` hands the parts to the calling thread
/// and a pool of persistent workers (one per further core), which claim them one at a time and
/// spin briefly between tasks (a training step is hundreds of small kernels; waking a sleeping
/// GCD worker for each cost 16% of a fashion-cnn epoch). Nested calls, and calls while another
/// thread holds the pool, run their parts one after the other.
///
/// The pool has ``threads`` threads: `FOVEA_THREADS`, else the cores the process may run on
/// (its affinity mask); ``setThreads(_:)`` (`--threads`) overrides both before the first kernel.
public enum Parallel {
    /// The pool's size, the calling thread included.
    public static var threads: Int { Int(fovea_parallel_threads()) }

    /// Sizes the pool to `n` threads (and oneDNN's OpenMP team with it); must come before the
    /// first kernel runs. Returns the size the pool has.
    @discardableResult
    public static func setThreads(_ n: Int) -> Int {
        precondition(n >= 1, "thread count must be at least 1")
        return Int(fovea_parallel_set_threads(Int32(n)))
    }

    /// body(0), ..., body(parts - 1), spread over the pool.
    public static func run(_ parts: Int, _ body: (Int) -> Void) {
        switch parts {
        case ...0: return
        case 1: body(0)
        default:
            withoutActuallyEscaping(body) { body in
                var task = body
                withUnsafeMutablePointer(to: &task) { pointer in
                    fovea_parallel_run({ context, part in
                        context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(part))
                    }, pointer, parts)
                }
            }
        }
    }

    /// body(part, parts) for part in 0 ..< parts, with `parts` = min(``threads``, `limit`): a
    /// static split, one part per thread, for loops that interleave or reduce by part.
    public static func split(limit: Int = .max, _ body: (_ part: Int, _ parts: Int) -> Void) {
        let parts = max(1, min(isSerial ? 1 : threads, limit))
        run(parts) { body($0, parts) }
    }

    /// [body(0), ..., body(parts - 1)], run on `parts` threads at once (the caller's among
    /// them), with every kernel inside each one kept on its own thread: whole independent
    /// computations (the batches of occlusion and Score-CAM) one per core, with no fork-join inside
    /// them. Each thread sees the caller's autodiff settings and frozen-weights cache. Every
    /// part runs to its end; then the first part's error, if any, is thrown.
    public static func concurrently<T>(_ parts: Int, _ body: (Int) throws -> T) throws -> [T] {
        let (disabled, overrides, cache) = (GradMode.disabled, GradMode.overrides, FrozenWeights.cache)
        var results = [Result<T, Error>?](repeating: nil, count: parts)
        results.withUnsafeMutableBufferPointer { slots in
            DispatchQueue.concurrentPerform(iterations: parts) { part in
                let previous = fovea_parallel_set_serial(1)
                defer { _ = fovea_parallel_set_serial(previous) }
                slots[part] = Result {
                    try GradMode.$disabled.withValue(disabled) {
                        try GradMode.$overrides.withValue(overrides) {
                            try FrozenWeights.$cache.withValue(cache) { try body(part) }
                        }
                    }
                }
            }
        }
        return try results.map { try $0!.get() }
    }

    /// Whether fork-joins on this thread run serially (inside ``concurrently(_:_:)`` or a task).
    static var isSerial: Bool { fovea_parallel_is_serial() != 0 }

    /// body(range) over 0..<count cut into chunks of at least `grain` items (a multiple of it,
    /// about eight per thread, at least sixteen), which the threads claim one after another
    /// until none is left: a thread that starts late, or is slowed by another process, does
    /// less of the work instead of making the others wait (a fixed split in halves left the
    /// caller waiting 5-10% of an EfficientNet pass).
    public static func forEach(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        let workers = isSerial ? 1 : threads
        let target = min(max(16, 8 * workers), 4096)
        let chunk = (max(grain, (count + target - 1) / target) + grain - 1) / grain * grain
        let chunks = (count + chunk - 1) / chunk
        guard chunks > 1, workers > 1 else {
            for i in 0..<chunks { body((i * chunk)..<min(count, (i + 1) * chunk)) }
            return
        }
        var next = 0
        withUnsafeMutablePointer(to: &next) { counter in
            run(min(workers, chunks)) { _ in
                while true {
                    let i = fovea_claim_next(counter)
                    guard i < chunks else { return }
                    body((i * chunk)..<min(count, (i + 1) * chunk))
                }
            }
        }
    }
}
