// Fork-join over every core for Fovea's kernels: the calling thread and a pool of persistent
// workers (one per further core) claim the parts of a task one at a time until none is left.
// Workers spin briefly before sleeping, so the back-to-back small kernels of a training step do
// not pay a thread wake-up each (as GCD's concurrentPerform does). The caller works on the
// parts too, so a task finishes even when every worker's core is busy with another process.
#ifndef FOVEA_PARALLEL_H
#define FOVEA_PARALLEL_H

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*fovea_parallel_task)(void *context, long part);

/// Runs task(context, p) for p in 0 ..< parts, in parallel on the pool; serially when called
/// from inside a task, while another thread holds the pool, or for more than 65535 parts.
void fovea_parallel_run(fovea_parallel_task task, void *context, long parts);

/// The pool's size, the calling thread included: FOVEA_THREADS, else the cores this process may
/// run on. Starts the pool on first use.
int fovea_parallel_threads(void);

/// Sizes the pool to n threads if it has not started yet; returns the pool's size (n, unless
/// the pool had started, or the system refused threads).
int fovea_parallel_set_threads(int n);

/// Sets whether fork-joins called from this thread run every part on it (1) or share them with
/// the pool (0); returns the previous setting. For threads that each run whole independent
/// computations, one per core.
int fovea_parallel_set_serial(int serial);

/// Whether fork-joins called from this thread run every part on it.
int fovea_parallel_is_serial(void);

/// Returns *counter and adds one, atomically: how the parts of a dynamically split loop claim
/// their next chunk.
long fovea_claim_next(long *counter);

#ifdef __cplusplus
}
#endif

#endif
