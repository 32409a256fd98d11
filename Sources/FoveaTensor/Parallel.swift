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
}
