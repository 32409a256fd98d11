#include "fovea_dnnl.h"

#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

// One CPU engine and stream for the process, made on first use; executions are serialised by
// `lock` (a stream is not thread-safe; Fovea's kernels run one pass at a time anyway).
//
// libdnnl is opened on first use, not linked: its OpenMP runtime (libgomp) reads
// OMP_WAIT_POLICY once, when it is loaded, and its default (each thread spins about 3 ms for the
// next parallel region) took the core from Fovea's own workers after every oneDNN call
// (ResNet-18 forward+backward 57 -> 44 ms, ResNet-50 126 -> 105 ms, a fashion-cnn epoch 21 -> 17 s
// with PASSIVE). So PASSIVE is set first, unless the user set a policy. Without libdnnl.so.2 every
// plan is NULL and the callers keep their own kernels.
static dnnl_engine_t engine;
static dnnl_stream_t stream;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int engine_ok;

// oneDNN's team is OpenMP's (Debian builds it on libgomp), sized per calling thread by
// omp_set_num_threads; looked up at run time, so nothing links against OpenMP directly.
static void (*omp_set_threads)(int);
static atomic_int omp_threads;

void fovea_dnnl_set_threads(int n) { atomic_store(&omp_threads, n); }

// Every oneDNN function the shim calls, through fn_<name> pointers resolved by open_dnnl().
#define DNNL_FUNCTIONS(X) \
    X(dnnl_dilated_convolution_backward_data_desc_init) \
    X(dnnl_dilated_convolution_backward_weights_desc_init) \
    X(dnnl_dilated_convolution_forward_desc_init) X(dnnl_engine_create) X(dnnl_memory_create) \
    X(dnnl_memory_desc_equal) X(dnnl_memory_desc_get_size) X(dnnl_memory_desc_init_by_tag) \
    X(dnnl_memory_destroy) X(dnnl_primitive_attr_create) X(dnnl_primitive_attr_destroy) \
    X(dnnl_primitive_attr_set_scratchpad_mode) X(dnnl_primitive_create) \
    X(dnnl_primitive_desc_create) X(dnnl_primitive_desc_destroy) X(dnnl_primitive_desc_query) \
    X(dnnl_primitive_desc_query_md) X(dnnl_primitive_destroy) X(dnnl_primitive_execute) \
    X(dnnl_reorder_primitive_desc_create) X(dnnl_stream_create) X(dnnl_stream_wait)
#define DECLARE(name) static __typeof__(&name) fn_##name;
DNNL_FUNCTIONS(DECLARE)

// Opens libdnnl and resolves every function above (and OpenMP's omp_set_num_threads); 0 when
// the library or a function is missing.
static int open_dnnl(void) {
    setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
    void *library = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!library) return 0;
#define RESOLVE(name) if (!(fn_##name = (__typeof__(&name))dlsym(library, #name))) return 0;
    DNNL_FUNCTIONS(RESOLVE)
    omp_set_threads = (void (*)(int))dlsym(library, "omp_set_num_threads");
    return 1;
}

static void make_engine(void) {
    engine_ok = open_dnnl() && fn_dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success
        && fn_dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) == dnnl_success;
}

// An operand in the caller's layout (`user`) and the layout the primitive computes in
// (`inner`); when they differ, `reorder` converts (to inner for inputs, to user for outputs)
// through scratch at `offset`.
typedef struct {
    dnnl_memory_desc_t user, inner;
    dnnl_primitive_t reorder;
    size_t offset;
} operand;

struct fovea_conv {
    fovea_conv_kind kind;
    dnnl_primitive_t primitive;
    dnnl_primitive_desc_t pd;
    operand a, b, c;          // forward: x, w, y; backward data: dy, w, dx; backward weights: x, dy, dw
    dnnl_memory_desc_t bias;  // forward: bias; backward weights: dbias (ndims 0 when none)
    size_t scratchpad_offset, scratch_bytes, prepared_scratch_bytes;
};

static size_t align64(size_t bytes) { return (bytes + 63) & ~(size_t)63; }

// Fills o->inner from the primitive's choice for `query`, makes the reorder when the layouts
// differ and reserves its scratch.
static int settle(fovea_conv *p, operand *o, dnnl_query_t query, int is_input, size_t *bytes) {
    const dnnl_memory_desc_t *chosen = fn_dnnl_primitive_desc_query_md(p->pd, query, 0);
    if (!chosen) return 0;
    o->inner = *chosen;
    o->reorder = NULL;
    if (fn_dnnl_memory_desc_equal(&o->user, &o->inner)) return 1;
    dnnl_primitive_desc_t rpd;
    const dnnl_memory_desc_t *from = is_input ? &o->user : &o->inner, *to = is_input ? &o->inner : &o->user;
    if (fn_dnnl_reorder_primitive_desc_create(&rpd, from, engine, to, engine, NULL) != dnnl_success) return 0;
    dnnl_status_t s = fn_dnnl_primitive_create(&o->reorder, rpd);
    fn_dnnl_primitive_desc_destroy(rpd);
    if (s != dnnl_success) return 0;
    o->offset = *bytes;
    *bytes += align64(fn_dnnl_memory_desc_get_size(&o->inner));
    return 1;
}

fovea_conv *fovea_conv_create(const fovea_conv_shape *s, fovea_conv_kind kind, const char **error) {
    pthread_once(&once, make_engine);
    if (error) *error = NULL;
    if (!engine_ok) { if (error) *error = "no libdnnl.so.2, or no oneDNN CPU engine"; return NULL; }
    int64_t ho = (s->h + s->pad_top + s->pad_bottom - s->dilation_h * (s->kh - 1) - 1) / s->stride_h + 1;
    int64_t wo = (s->w + s->pad_left + s->pad_right - s->dilation_w * (s->kw - 1) - 1) / s->stride_w + 1;
    dnnl_dims_t xd = {s->n, s->cin, s->h, s->w}, wd = {s->cout, s->cin, s->kh, s->kw}, yd = {s->n, s->cout, ho, wo};
    dnnl_dims_t bd = {s->cout}, strides = {s->stride_h, s->stride_w};
    dnnl_dims_t dilates = {s->dilation_h - 1, s->dilation_w - 1};
    dnnl_dims_t pad_l = {s->pad_top, s->pad_left}, pad_r = {s->pad_bottom, s->pad_right};
    dnnl_memory_desc_t x_user, w_user, y_user, b_md, x_any, w_any, y_any;
    fn_dnnl_memory_desc_init_by_tag(&x_user, 4, xd, dnnl_f32, dnnl_nchw);
    fn_dnnl_memory_desc_init_by_tag(&w_user, 4, wd, dnnl_f32, dnnl_oihw);
    fn_dnnl_memory_desc_init_by_tag(&y_user, 4, yd, dnnl_f32, dnnl_nchw);
    fn_dnnl_memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_a);
    fn_dnnl_memory_desc_init_by_tag(&x_any, 4, xd, dnnl_f32, dnnl_format_tag_any);
    fn_dnnl_memory_desc_init_by_tag(&w_any, 4, wd, dnnl_f32, dnnl_format_tag_any);
    fn_dnnl_memory_desc_init_by_tag(&y_any, 4, yd, dnnl_f32, dnnl_format_tag_any);
    const dnnl_memory_desc_t *bias = s->has_bias ? &b_md : NULL;

    dnnl_primitive_attr_t attr;
    if (fn_dnnl_primitive_attr_create(&attr) != dnnl_success) { if (error) *error = "attributes"; return NULL; }
    fn_dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);

    // Every kind starts from the forward descriptor: the backward ones take it as their hint.
    // A convolution keeps nothing for its backward pass, so a forward plan may use either
    // kind: the inference kernels (brgconv) take weights in blocked layouts worth preparing
    // once, the training ones (and Winograd's) convert plain weights on every call.
    dnnl_alg_kind_t alg = s->winograd ? dnnl_convolution_winograd : dnnl_convolution_direct;
    dnnl_convolution_desc_t forward_desc, desc;
    dnnl_primitive_desc_t forward_pd = NULL;
    dnnl_prop_kind_t forward_kind = kind == FOVEA_CONV_FORWARD && s->inference ? dnnl_forward_inference : dnnl_forward_training;
    dnnl_status_t st = fn_dnnl_dilated_convolution_forward_desc_init(&forward_desc, forward_kind, alg,
                                                                     &x_any, &w_any, bias, &y_any, strides, dilates, pad_l, pad_r);
    if (st == dnnl_success) st = fn_dnnl_primitive_desc_create(&forward_pd, &forward_desc, attr, engine, NULL);
    fovea_conv *p = calloc(1, sizeof *p);
    p->kind = kind;
    if (st == dnnl_success) {
        switch (kind) {
        case FOVEA_CONV_FORWARD:
            p->pd = forward_pd; forward_pd = NULL;
            p->a.user = x_user; p->b.user = w_user; p->c.user = y_user;
            break;
        case FOVEA_CONV_BACKWARD_DATA:
            st = fn_dnnl_dilated_convolution_backward_data_desc_init(&desc, alg, &x_any, &w_any, &y_any,
                                                                     strides, dilates, pad_l, pad_r);
            if (st == dnnl_success) st = fn_dnnl_primitive_desc_create(&p->pd, &desc, attr, engine, forward_pd);
            p->a.user = y_user; p->b.user = w_user; p->c.user = x_user;
            break;
        case FOVEA_CONV_BACKWARD_WEIGHTS:
            st = fn_dnnl_dilated_convolution_backward_weights_desc_init(&desc, alg, &x_any, &w_any, bias, &y_any,
                                                                        strides, dilates, pad_l, pad_r);
            if (st == dnnl_success) st = fn_dnnl_primitive_desc_create(&p->pd, &desc, attr, engine, forward_pd);
            p->a.user = x_user; p->b.user = y_user; p->c.user = w_user;
            break;
        }
    }
    if (forward_pd) fn_dnnl_primitive_desc_destroy(forward_pd);
    fn_dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success) { if (error) *error = "no oneDNN implementation"; fovea_conv_destroy(p); return NULL; }
    if (s->has_bias) p->bias = b_md;

    // Scratch: a's and c's converted copies, oneDNN's scratchpad, then b's, last, so that a
    // call with b already converted (prepared weights) needs only the part before it.
    size_t bytes = 0;
    static const dnnl_query_t queries[3][3] = {
        {dnnl_query_src_md, dnnl_query_weights_md, dnnl_query_dst_md},
        {dnnl_query_diff_dst_md, dnnl_query_weights_md, dnnl_query_diff_src_md},
        {dnnl_query_src_md, dnnl_query_diff_dst_md, dnnl_query_diff_weights_md},
    };
    if (!settle(p, &p->a, queries[kind][0], 1, &bytes) || !settle(p, &p->c, queries[kind][2], 0, &bytes)) {
        if (error) *error = "layout conversion";
        fovea_conv_destroy(p);
        return NULL;
    }
    const dnnl_memory_desc_t *pad = fn_dnnl_primitive_desc_query_md(p->pd, dnnl_query_scratchpad_md, 0);
    p->scratchpad_offset = bytes;
    bytes += align64(pad ? fn_dnnl_memory_desc_get_size(pad) : 0);
    p->prepared_scratch_bytes = bytes > 0 ? bytes : 64;
    if (!settle(p, &p->b, queries[kind][1], 1, &bytes)) {
        if (error) *error = "layout conversion";
        fovea_conv_destroy(p);
        return NULL;
    }
    p->scratch_bytes = bytes > 0 ? bytes : 64;
    if (fn_dnnl_primitive_create(&p->primitive, p->pd) != dnnl_success) {
        if (error) *error = "primitive";
        fovea_conv_destroy(p);
        return NULL;
    }
    return p;
}

void fovea_conv_destroy(fovea_conv *p) {
    if (!p) return;
    operand *ops[3] = {&p->a, &p->b, &p->c};
    for (int i = 0; i < 3; i++) if (ops[i]->reorder) fn_dnnl_primitive_destroy(ops[i]->reorder);
    if (p->primitive) fn_dnnl_primitive_destroy(p->primitive);
    if (p->pd) fn_dnnl_primitive_desc_destroy(p->pd);
    free(p);
}

size_t fovea_conv_scratch_bytes(const fovea_conv *p, int prepared) {
    return prepared ? p->prepared_scratch_bytes : p->scratch_bytes;
}

const char *fovea_conv_implementation(const fovea_conv *p) {
    const char *name = NULL;
    if (fn_dnnl_primitive_desc_query(p->pd, dnnl_query_impl_info_str, 0, &name) != dnnl_success || !name) return "unknown";
    return name;
}

static dnnl_memory_t wrap(const dnnl_memory_desc_t *md, const void *data) {
    dnnl_memory_t m = NULL;
    if (fn_dnnl_memory_create(&m, md, engine, (void *)data) != dnnl_success) return NULL;
    return m;
}

static dnnl_status_t reorder(dnnl_primitive_t r, dnnl_memory_t from, dnnl_memory_t to) {
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    return fn_dnnl_primitive_execute(r, stream, 2, args);
}

size_t fovea_conv_prepared_weights_bytes(const fovea_conv *p) {
    if (p->kind != FOVEA_CONV_FORWARD || !p->b.reorder) return 0;
    return fn_dnnl_memory_desc_get_size(&p->b.inner);
}

int fovea_conv_prepare_weights(const fovea_conv *p, const float *w, void *prepared) {
    if (p->kind != FOVEA_CONV_FORWARD || !p->b.reorder) return (int)dnnl_invalid_arguments;
    int threads = atomic_load(&omp_threads);
    if (threads > 0 && omp_set_threads) omp_set_threads(threads);
    pthread_mutex_lock(&lock);
    dnnl_memory_t from = wrap(&p->b.user, w), to = wrap(&p->b.inner, prepared);
    dnnl_status_t st = from && to ? reorder(p->b.reorder, from, to) : dnnl_out_of_memory;
    if (st == dnnl_success) st = fn_dnnl_stream_wait(stream);
    if (from) fn_dnnl_memory_destroy(from);
    if (to) fn_dnnl_memory_destroy(to);
    pthread_mutex_unlock(&lock);
    return (int)st;
}

// Runs the plan with operands a, b (inputs), c (output) and the optional bias (input in the
// forward pass, output in the weight gradient), converting layouts through scratch; b is
// already in the plan's layout when `prepared`.
static int run(const fovea_conv *p, const void *a, const void *b, int prepared, void *c, void *bias, char *scratch) {
    int threads = atomic_load(&omp_threads);
    if (threads > 0 && omp_set_threads) omp_set_threads(threads);
    static const int roles[3][3] = {
        {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST},
        {DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC},
        {DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS},
    };
    const operand *ops[3] = {&p->a, &p->b, &p->c};
    const void *data[3] = {a, b, c};
    dnnl_memory_t user[3] = {0}, inner[3] = {0}, bias_memory = NULL, pad = NULL;
    dnnl_status_t st = dnnl_success;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < 3 && st == dnnl_success; i++) {
        if (i == 1 && prepared) {
            user[i] = inner[i] = wrap(&ops[i]->inner, data[i]);
            if (!user[i]) st = dnnl_out_of_memory;
            continue;
        }
        user[i] = wrap(&ops[i]->user, data[i]);
        inner[i] = ops[i]->reorder ? wrap(&ops[i]->inner, scratch + ops[i]->offset) : user[i];
        if (!user[i] || !inner[i]) st = dnnl_out_of_memory;
        else if (i < 2 && ops[i]->reorder) st = reorder(ops[i]->reorder, user[i], inner[i]);
    }
    if (st == dnnl_success) {
        const dnnl_memory_desc_t *pad_md = fn_dnnl_primitive_desc_query_md(p->pd, dnnl_query_scratchpad_md, 0);
        pad = wrap(pad_md, scratch + p->scratchpad_offset);
        if (bias && p->bias.ndims) bias_memory = wrap(&p->bias, bias);
        dnnl_exec_arg_t args[5] = {{roles[p->kind][0], inner[0]}, {roles[p->kind][1], inner[1]},
                                   {roles[p->kind][2], inner[2]}, {DNNL_ARG_SCRATCHPAD, pad}};
        int count = 4;
        if (bias_memory) args[count++] = (dnnl_exec_arg_t){p->kind == FOVEA_CONV_FORWARD ? DNNL_ARG_BIAS : DNNL_ARG_DIFF_BIAS, bias_memory};
        st = fn_dnnl_primitive_execute(p->primitive, stream, count, args);
        if (st == dnnl_success && p->c.reorder) st = reorder(p->c.reorder, inner[2], user[2]);
        if (st == dnnl_success) st = fn_dnnl_stream_wait(stream);
    }
    for (int i = 0; i < 3; i++) {
        if (inner[i] && inner[i] != user[i]) fn_dnnl_memory_destroy(inner[i]);
        if (user[i]) fn_dnnl_memory_destroy(user[i]);
    }
    if (pad) fn_dnnl_memory_destroy(pad);
    if (bias_memory) fn_dnnl_memory_destroy(bias_memory);
    pthread_mutex_unlock(&lock);
    return (int)st;
}

int fovea_conv_forward(const fovea_conv *p, const float *x, const void *w, int prepared, const float *bias, float *y,
                       void *scratch) {
    if (p->kind != FOVEA_CONV_FORWARD || (p->bias.ndims && !bias)) return (int)dnnl_invalid_arguments;
    return run(p, x, w, prepared && p->b.reorder, y, (void *)bias, scratch);
}

int fovea_conv_backward_data(const fovea_conv *p, const float *dy, const float *w, float *dx, void *scratch) {
    if (p->kind != FOVEA_CONV_BACKWARD_DATA) return (int)dnnl_invalid_arguments;
    return run(p, dy, w, 0, dx, NULL, scratch);
}

int fovea_conv_backward_weights(const fovea_conv *p, const float *x, const float *dy, float *dw, float *dbias,
                                void *scratch) {
    if (p->kind != FOVEA_CONV_BACKWARD_WEIGHTS || (p->bias.ndims && !dbias)) return (int)dnnl_invalid_arguments;
    return run(p, x, dy, 0, dw, dbias, scratch);
}
