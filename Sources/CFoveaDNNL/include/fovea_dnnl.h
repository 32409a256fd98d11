// 2-D convolutions through oneDNN (Debian libdnnl 2.x, CPU engine): forward, input gradient and
// weight gradient of x: [N, Cin, H, W] (NCHW) by w: [Cout, Cin, kh, kw] (OIHW), groups = 1.
//
// oneDNN picks its own (blocked) layouts for the computation; a plan converts NCHW/OIHW to them
// and back. Every buffer a call needs besides its operands, the converted operands and oneDNN's
// own scratchpad, lives in one caller-owned scratch area of fovea_conv_scratch_bytes(plan)
// bytes, so a plan holds no data and the caller can recycle the memory.
#ifndef FOVEA_DNNL_H
#define FOVEA_DNNL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fovea_conv fovea_conv;

typedef enum {
    FOVEA_CONV_FORWARD = 0,         // y = conv(x, w) + bias
    FOVEA_CONV_BACKWARD_DATA = 1,   // dx = conv^T(dy, w)
    FOVEA_CONV_BACKWARD_WEIGHTS = 2 // dw = sum over images and positions of dy x-patch (and dbias)
} fovea_conv_kind;

/// Shapes and geometry, PyTorch's conventions (dilation 1 = none).
typedef struct {
    int64_t n, cin, h, w, cout, kh, kw;
    int64_t stride_h, stride_w, dilation_h, dilation_w;
    int64_t pad_top, pad_bottom, pad_left, pad_right;
    int has_bias;
    int winograd;   // 1: oneDNN's Winograd algorithm (3x3, stride 1; AVX-512), else direct
    int inference;  // forward plans: 1 for oneDNN's inference kernels, whose weight layouts pay
                    // off when prepared once (fovea_conv_prepare_weights); 0 for the kernels
                    // that take plain weights on every call
} fovea_conv_shape;

/// A plan for one kind of pass at one shape, or NULL (with a reason in `error`, if given) when
/// oneDNN has no implementation for it.
fovea_conv *fovea_conv_create(const fovea_conv_shape *shape, fovea_conv_kind kind, const char **error);

/// Sizes oneDNN's OpenMP team (n threads) for every later execution.
void fovea_dnnl_set_threads(int n);
void fovea_conv_destroy(fovea_conv *plan);

/// oneDNN's name for the implementation the plan runs ("jit_wino_4x3:avx512_core", ...).
const char *fovea_conv_implementation(const fovea_conv *plan);

/// Bytes of scratch the plan's passes need (a multiple of 64); fewer with `prepared` weights.
size_t fovea_conv_scratch_bytes(const fovea_conv *plan, int prepared);

/// Weights in a forward plan's own layout, made once and reused by every call while they do
/// not change: bytes of the converted copy, 0 when the plan computes on OIHW weights as they
/// are (or is not a forward plan).
size_t fovea_conv_prepared_weights_bytes(const fovea_conv *plan);
/// Converts OIHW `w` into `prepared` (fovea_conv_prepared_weights_bytes(plan) bytes, 64-byte aligned).
int fovea_conv_prepare_weights(const fovea_conv *plan, const float *w, void *prepared);

/// The passes; `scratch` is 64-byte aligned and fovea_conv_scratch_bytes(plan, prepared) long;
/// the forward pass's `w` is OIHW, or the prepared copy when `prepared` is 1. Each returns 0 on
/// success, else a oneDNN status.
int fovea_conv_forward(const fovea_conv *plan, const float *x, const void *w, int prepared, const float *bias,
                       float *y, void *scratch);
int fovea_conv_backward_data(const fovea_conv *plan, const float *dy, const float *w, float *dx, void *scratch);
/// dbias may be NULL (then the plan must have been made without has_bias).
int fovea_conv_backward_weights(const fovea_conv *plan, const float *x, const float *dy, float *dw, float *dbias,
                                void *scratch);

#ifdef __cplusplus
}
#endif

#endif
