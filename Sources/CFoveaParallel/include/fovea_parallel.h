// Two-way fork-join for Fovea's kernels: the calling thread runs part 0 while one persistent
// worker runs part 1. The worker spins briefly before sleeping, so the back-to-back small
// kernels of a training step do not pay a thread wake-up each (as GCD's concurrentPerform does).
// If the worker has not started part 1 by the time part 0 is done (its core is busy with
// another process), the caller runs part 1 itself.
#ifndef FOVEA_PARALLEL_H
#define FOVEA_PARALLEL_H

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*fovea_parallel_task)(void *context, int part);

/// Runs task(context, 0) and task(context, 1), in parallel when the worker is free; serially
/// when called from inside a task or while another thread holds the worker.
void fovea_parallel2(fovea_parallel_task task, void *context);

/// Sets whether fork-joins called from this thread run both parts on it (1) or split them with
/// the worker (0); returns the previous setting. For threads that each run whole independent
/// computations, one per core.
int fovea_parallel_set_serial(int serial);

/// Whether fork-joins called from this thread run both parts on it.
int fovea_parallel_is_serial(void);

/// Returns *counter and adds one, atomically: how the two parts of a dynamically split loop
/// claim their next chunk.
long fovea_claim_next(long *counter);

#ifdef __cplusplus
}
#endif

#endif
