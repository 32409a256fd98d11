// Small C shim over libpng for FoveaIO. libpng reports errors with longjmp, which Swift cannot
// catch, so every libpng call is made here behind a setjmp and errors come back as status codes.
#ifndef CFOVEA_PNG_H
#define CFOVEA_PNG_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Status codes shared by the decode/encode calls.
enum {
    FOVEA_PNG_OK = 0,
    FOVEA_PNG_NOT_PNG = 1,      ///< missing the 8-byte PNG signature
    FOVEA_PNG_CORRUPT = 2,      ///< truncated or malformed data (message says what libpng saw)
    FOVEA_PNG_UNSUPPORTED = 3,  ///< valid PNG we do not handle
    FOVEA_PNG_TOO_LARGE = 4,    ///< dimensions too large / out of memory
    FOVEA_PNG_BAD_ARGUMENT = 5  ///< encode called with bad dimensions / channels / depth
};

/// A decoded PNG. Palette, low-bit gray and tRNS are expanded, so `channels` is 1 (gray),
/// 2 (gray+alpha), 3 (RGB) or 4 (RGBA) and `bit_depth` is 8 or 16. 16-bit samples are stored
/// in native byte order. Row-major, interleaved, no row padding. `data` is malloc'd.
typedef struct {
    int width;
    int height;
    int channels;
    int bit_depth;
    unsigned char *data;
    size_t size;
} fovea_png_image;

/// Decodes a whole PNG file held in memory. On failure `out->data` is NULL and `message`
/// (at most `message_size` bytes, NUL-terminated) describes the problem.
int fovea_png_decode(const unsigned char *bytes, size_t length, fovea_png_image *out,
                     char *message, size_t message_size);

/// Encodes interleaved pixels (channels 1...4, bit_depth 8 or 16 with native-endian samples)
/// as a PNG file in memory. `*out` is malloc'd; release it with `fovea_png_free`.
int fovea_png_encode(const unsigned char *pixels, int width, int height, int channels,
                     int bit_depth, unsigned char **out, size_t *out_size,
                     char *message, size_t message_size);

/// Frees memory returned by this shim.
void fovea_png_free(void *pointer);

#ifdef __cplusplus
}
#endif

#endif
