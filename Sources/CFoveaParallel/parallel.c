#include "fovea_parallel.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

// How long a worker spins for the next task before sleeping, in pause iterations
// (about 20 microseconds).
#define SPIN_ITERATIONS 4000
// How long the caller spins for the last parts to finish before yielding its core each round.
#define WAIT_SPINS 2000
#define MAX_THREADS 1024
// Parts per task: the count lives in 16 bits of the claim word.
#define MAX_PARTS 65535

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t caller_lock = PTHREAD_MUTEX_INITIALIZER;   // one caller at a time
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;

static atomic_int configured;    // threads asked for before the pool started (0: the machine's)
static int threads = 1;          // the pool's size, the caller included; fixed once started
static int workers_started = 0;

// The task being run: set by the caller before it publishes the task's ticket, and left alone
// until every part of it is done.
static fovea_parallel_task current_task;
static void *current_context;
// (ticket << 32) | (parts << 16) | next unclaimed part. A part is claimed by a compare-and-swap
// of the whole word, so a worker that wakes late never claims a part of a later task, and the
// part count it checks is its own task's. A successful claim means the task is not finished,
// so its caller is still waiting and `current_task` is still that task.
static _Atomic uint64_t claims;
static atomic_long parts_done;
static atomic_ulong posted;      // tickets published so far
static atomic_int sleeping;      // workers waiting on `wake`
static __thread int inside_task; // nested calls run serially

// Claims the next part of ticket t: its index, or -1 when the parts are gone or t is over.
static long claim(unsigned long t) {
    uint64_t word = atomic_load(&claims);
    for (;;) {
        if ((word >> 32) != (t & 0xffffffffu)) return -1;
        long part = (long)(word & 0xffff), parts = (long)((word >> 16) & 0xffff);
        if (part >= parts) return -1;
        if (atomic_compare_exchange_weak(&claims, &word, word + 1)) return part;
    }
}

// Runs parts of ticket t until none is left unclaimed.
static void run_parts(unsigned long t) {
    long part;
    while ((part = claim(t)) >= 0) {
        current_task(current_context, part);
        atomic_fetch_add(&parts_done, 1);
    }
}

static void *worker(void *unused) {
    (void)unused;
    inside_task = 1;
    unsigned long seen = atomic_load(&posted);
    for (;;) {
        int spins = 0;
        while (atomic_load(&posted) == seen) {
            if (++spins < SPIN_ITERATIONS) { CPU_RELAX(); continue; }
            pthread_mutex_lock(&sleep_lock);
            atomic_fetch_add(&sleeping, 1);
            while (atomic_load(&posted) == seen) pthread_cond_wait(&wake, &sleep_lock);
            atomic_fetch_sub(&sleeping, 1);
            pthread_mutex_unlock(&sleep_lock);
        }
        seen = atomic_load(&posted);
        run_parts(seen);
    }
    return NULL;
}

// The cores this process may run on (its affinity mask), else the online processors.
static int machine_threads(void) {
#if defined(__linux__) && defined(CPU_COUNT)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static void start_pool(void) {
    int n = atomic_load(&configured);
    if (n <= 0) {
        const char *env = getenv("FOVEA_THREADS");
        n = env ? atoi(env) : 0;
    }
    if (n <= 0) n = machine_threads();
    if (n > MAX_THREADS) n = MAX_THREADS;
    threads = n;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (int i = 1; i < n; i++) {
        pthread_t thread;
        if (pthread_create(&thread, &attr, worker, NULL) != 0) break;
        workers_started++;
    }
    pthread_attr_destroy(&attr);
    if (workers_started + 1 < threads) threads = workers_started + 1;
}

int fovea_parallel_set_threads(int n) {
    if (n >= 1) atomic_store(&configured, n);
    pthread_once(&once, start_pool);
    return threads;
}

int fovea_parallel_threads(void) {
    pthread_once(&once, start_pool);
    return threads;
}

void fovea_parallel_run(fovea_parallel_task task, void *context, long parts) {
    if (parts <= 0) return;
    if (parts == 1 || parts > MAX_PARTS || inside_task) {
        for (long p = 0; p < parts; p++) task(context, p);
        return;
    }
    pthread_once(&once, start_pool);
    if (workers_started == 0 || pthread_mutex_trylock(&caller_lock) != 0) {
        for (long p = 0; p < parts; p++) task(context, p);
        return;
    }
    current_task = task;
    current_context = context;
    atomic_store(&parts_done, 0);
    unsigned long ticket = atomic_load(&posted) + 1;
    atomic_store(&claims, ((uint64_t)(ticket & 0xffffffffu) << 32) | ((uint64_t)parts << 16));
    atomic_store(&posted, ticket);
    if (atomic_load(&sleeping) > 0) {
        pthread_mutex_lock(&sleep_lock);
        pthread_cond_broadcast(&wake);
        pthread_mutex_unlock(&sleep_lock);
    }
    // The caller works too, so a task finishes even while every worker is descheduled.
    inside_task = 1;
    run_parts(ticket);
    int spins = 0;
    while (atomic_load(&parts_done) != parts) {
        if (++spins < WAIT_SPINS) CPU_RELAX(); else sched_yield();
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
