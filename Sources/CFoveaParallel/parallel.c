#include "fovea_parallel.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

// How long the worker spins for the next task before sleeping, in pause iterations
// (about 20 microseconds).
#define SPIN_ITERATIONS 4000
// How long the caller spins for the worker to finish before yielding its core each round.
#define WAIT_SPINS 2000

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t caller_lock = PTHREAD_MUTEX_INITIALIZER;   // one caller at a time
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;

static fovea_parallel_task current_task;
static void *current_context;
static atomic_ulong posted;      // tasks posted so far (task t is the t-th call)
static atomic_ulong taken;       // the last task whose part 1 was claimed, by the worker or the caller
static atomic_ulong finished;    // the last task whose part 1 the worker finished
static atomic_int sleeping;      // the worker waits on `wake`
static __thread int inside_task; // nested calls run serially

// Part 1 of task t goes to whoever claims it first: the worker when it is running, or the
// caller once its own part is done. A worker that is descheduled (another process holds the
// other core) therefore never makes the caller wait.
static int claim(unsigned long t) {
    unsigned long expected = t - 1;
    return atomic_compare_exchange_strong(&taken, &expected, t);
}

static void *worker(void *unused) {
    (void)unused;
    inside_task = 1;
    unsigned long seen = 0;
    for (;;) {
        int spins = 0;
        while (atomic_load(&posted) == seen) {
            if (++spins < SPIN_ITERATIONS) { CPU_RELAX(); continue; }
            pthread_mutex_lock(&sleep_lock);
            atomic_store(&sleeping, 1);
            while (atomic_load(&posted) == seen) pthread_cond_wait(&wake, &sleep_lock);
            atomic_store(&sleeping, 0);
            pthread_mutex_unlock(&sleep_lock);
        }
        seen = atomic_load(&posted);
        if (!claim(seen)) continue;               // the caller ran it
        current_task(current_context, 1);
        atomic_store(&finished, seen);
    }
    return NULL;
}

static int worker_started = 0;

static void start_worker(void) {
    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    worker_started = pthread_create(&thread, &attr, worker, NULL) == 0;
    pthread_attr_destroy(&attr);
}

void fovea_parallel2(fovea_parallel_task task, void *context) {
    if (inside_task) { task(context, 0); task(context, 1); return; }
    pthread_once(&once, start_worker);
    if (!worker_started || pthread_mutex_trylock(&caller_lock) != 0) {
        task(context, 0);
        task(context, 1);
        return;
    }
    current_task = task;
    current_context = context;
    unsigned long ticket = atomic_fetch_add(&posted, 1) + 1;
    if (atomic_load(&sleeping)) {
        pthread_mutex_lock(&sleep_lock);
        pthread_cond_signal(&wake);
        pthread_mutex_unlock(&sleep_lock);
    }
    inside_task = 1;
    task(context, 0);
    if (claim(ticket)) {
        task(context, 1);                         // the worker had not started it
    } else {
        int spins = 0;
        while (atomic_load(&finished) != ticket) {
            if (++spins < WAIT_SPINS) CPU_RELAX(); else sched_yield();
        }
    }
    inside_task = 0;
    pthread_mutex_unlock(&caller_lock);
}

int fovea_parallel_set_serial(int serial) {
    int previous = inside_task;
    inside_task = serial;
    return previous;
}

int fovea_parallel_is_serial(void) { return inside_task; }

long fovea_claim_next(long *counter) {
    return __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}
