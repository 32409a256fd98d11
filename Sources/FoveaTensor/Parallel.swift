import CFoveaParallel
import Dispatch

/// Fork-join over the two cores Fovea's kernels split work across: `run(2) { part in ... }`
/// runs part 0 on the calling thread and part 1 on a persistent worker that spins briefly
/// between tasks (a training step is hundreds of small kernels; waking a sleeping GCD worker
/// for each cost 16% of a fashion-cnn epoch). Nested calls, and calls while another thread
/// holds the worker, run their parts one after the other.
public enum Parallel {
    public static func run(_ parts: Int, _ body: (Int) -> Void) {
        switch parts {
        case ...0: return
        case 1: body(0)
        case 2:
            withoutActuallyEscaping(body) { body in
                var task = body
                withUnsafeMutablePointer(to: &task) { pointer in
                    fovea_parallel2({ context, part in
                        context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(part))
                    }, pointer)
                }
            }
        default: DispatchQueue.concurrentPerform(iterations: parts, execute: body)
        }
    }

    /// [body(0), ..., body(parts - 1)], run on `parts` threads at once (the caller's among
    /// them), with every kernel inside each one kept on its own thread: whole independent
    /// computations (the passes of Integrated Gradients) one per core, with no fork-join inside
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
    /// about sixteen chunks), which both cores claim one after another until none is left:
    /// a core that starts late, or is slowed by another process, does less of the work instead
    /// of making the other wait (a fixed split in halves left the caller waiting 5-10% of an
    /// EfficientNet pass).
    public static func forEach(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        let chunk = (max(grain, (count + 15) / 16) + grain - 1) / grain * grain
        let chunks = (count + chunk - 1) / chunk
        guard chunks > 1 else {
            if count > 0 { body(0..<count) }
            return
        }
        var next = 0
        withUnsafeMutablePointer(to: &next) { counter in
            run(2) { _ in
                while true {
                    let i = fovea_claim_next(counter)
                    guard i < chunks else { return }
                    body((i * chunk)..<min(count, (i + 1) * chunk))
                }
            }
        }
    }
}
