// Small C shim over libjpeg for FoveaIO. libjpeg reports fatal errors by calling error_exit,
// which must not return; Swift can neither setjmp nor longjmp, so the whole decode/encode runs
// here behind a setjmp and errors come back as status codes plus a message.
#ifndef CFOVEA_JPEG_H
#define CFOVEA_JPEG_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Status codes shared by the decode/encode calls.
enum {
    FOVEA_JPEG_OK = 0,
    FOVEA_JPEG_NOT_JPEG = 1,      ///< does not start with the SOI marker FF D8 FF
    FOVEA_JPEG_CORRUPT = 2,       ///< truncated or malformed data (message from libjpeg)
    FOVEA_JPEG_UNSUPPORTED = 3,   ///< valid JPEG we do not handle (CMYK, YCCK, ...)
    FOVEA_JPEG_TOO_LARGE = 4,     ///< dimensions too large / out of memory
    FOVEA_JPEG_BAD_ARGUMENT = 5   ///< encode called with bad dimensions / channels
};

/// A decoded JPEG: 8-bit, `channels` 1 (gray) or 3 (RGB), row-major interleaved, `data` malloc'd.
typedef struct {
    int width;
    int height;
    int channels;
    unsigned char *data;
    size_t size;
} fovea_jpeg_image;

/// Decodes a whole JPEG file held in memory. A file that ends before its EOI marker is an error (libjpeg itself
/// would only warn and pad with gray). On failure `out->data` is NULL and `message` says why.
int fovea_jpeg_decode(const unsigned char *bytes, size_t length, fovea_jpeg_image *out,
                      char *message, size_t message_size);

/// Encodes 8-bit gray (channels 1) or RGB (channels 3) pixels as baseline JPEG with the given
/// quality (1...100, libjpeg scale, 4:2:0 chroma). `*out` is malloc'd; free with fovea_jpeg_free.
int fovea_jpeg_encode(const unsigned char *pixels, int width, int height, int channels,
                      int quality, unsigned char **out, size_t *out_size,
                      char *message, size_t message_size);

/// Frees memory returned by this shim.
void fovea_jpeg_free(void *pointer);

#ifdef __cplusplus
}
#endif

#endif
