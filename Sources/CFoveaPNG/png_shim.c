// libpng decode/encode behind setjmp; see include/CFoveaPNG.h.
#include "CFoveaPNG.h"

#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/// Largest decoded buffer we agree to allocate (bytes).
#define FOVEA_PNG_MAX_BYTES ((size_t)1 << 31)

typedef struct {
    jmp_buf jump;
    char *message;
    size_t message_size;
} error_context;

typedef struct {
    const unsigned char *bytes;
    size_t length;
    size_t offset;
} memory_reader;

typedef struct {
    unsigned char *data;
    size_t size;
    size_t capacity;
} memory_writer;

static void set_message(char *message, size_t size, const char *text) {
    if (message && size > 0) snprintf(message, size, "%s", text);
}

static void on_error(png_structp png, png_const_charp text) {
    error_context *context = (error_context *)png_get_error_ptr(png);
    set_message(context->message, context->message_size, text);
    longjmp(context->jump, 1);
}

static void on_warning(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;  // benign (e.g. bad ancillary chunk CRC): libpng already skipped it
}

static void read_bytes(png_structp png, png_bytep destination, size_t count) {
    memory_reader *reader = (memory_reader *)png_get_io_ptr(png);
    if (reader->length - reader->offset < count) png_error(png, "unexpected end of file (truncated)");
    memcpy(destination, reader->bytes + reader->offset, count);
    reader->offset += count;
}

static void write_bytes(png_structp png, png_bytep source, size_t count) {
    memory_writer *writer = (memory_writer *)png_get_io_ptr(png);
    if (writer->capacity - writer->size < count) {
        size_t capacity = writer->capacity ? writer->capacity * 2 : 65536;
        while (capacity - writer->size < count) capacity *= 2;
        unsigned char *grown = (unsigned char *)realloc(writer->data, capacity);
        if (!grown) png_error(png, "out of memory");
        writer->data = grown;
        writer->capacity = capacity;
    }
    memcpy(writer->data + writer->size, source, count);
    writer->size += count;
}

static void flush_bytes(png_structp png) { (void)png; }

static int host_is_little_endian(void) {
    const uint16_t probe = 1;
    return *(const unsigned char *)&probe == 1;
}

int fovea_png_decode(const unsigned char *bytes, size_t length, fovea_png_image *out,
                     char *message, size_t message_size) {
    memset(out, 0, sizeof *out);
    if (length < 8 || png_sig_cmp(bytes, 0, 8) != 0) {
        set_message(message, message_size, "missing PNG signature");
        return FOVEA_PNG_NOT_PNG;
    }
    error_context context;
    context.message = message;
    context.message_size = message_size;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &context, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        if (png) png_destroy_read_struct(&png, NULL, NULL);
        set_message(message, message_size, "out of memory");
        return FOVEA_PNG_TOO_LARGE;
    }
    // Assigned after setjmp and needed after a longjmp, hence volatile.
    unsigned char *volatile data = NULL;
    png_bytep *volatile rows = NULL;
    volatile int status = FOVEA_PNG_CORRUPT;
    memory_reader reader = {bytes, length, 0};

    if (setjmp(context.jump)) {
        free(data);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return status;
    }
    png_set_read_fn(png, &reader, read_bytes);
    png_read_info(png, info);

    png_set_expand(png);  // palette -> RGB, gray 1/2/4 -> 8 bit, tRNS -> alpha channel
    if (host_is_little_endian()) png_set_swap(png);  // 16-bit samples in host order
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    const png_uint_32 width = png_get_image_width(png, info);
    const png_uint_32 height = png_get_image_height(png, info);
    const int channels = png_get_channels(png, info);
    const int depth = png_get_bit_depth(png, info);
    const size_t row_bytes = png_get_rowbytes(png, info);
    if ((depth != 8 && depth != 16) || channels < 1 || channels > 4 ||
        row_bytes != (size_t)width * (size_t)channels * (size_t)(depth / 8)) {
        status = FOVEA_PNG_UNSUPPORTED;
        png_error(png, "unexpected pixel layout after expansion");
    }
    if ((unsigned long long)width * height > 100000000ULL) {
        static char declared[120];
        snprintf(declared, sizeof declared, "the header declares %ux%u pixels, more than the 100-megapixel limit",
                 (unsigned)width, (unsigned)height);
        status = FOVEA_PNG_TOO_LARGE;
        png_error(png, declared);
    }
    if (width == 0 || height == 0 || row_bytes > FOVEA_PNG_MAX_BYTES / height) {
        status = FOVEA_PNG_TOO_LARGE;
        png_error(png, "image dimensions too large");
    }
    data = (unsigned char *)malloc(row_bytes * height);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * height);
    if (!data || !rows) {
        status = FOVEA_PNG_TOO_LARGE;
        png_error(png, "out of memory");
    }
    for (png_uint_32 y = 0; y < height; y++) rows[y] = data + (size_t)y * row_bytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);  // checks the trailing chunks (and IEND) as well

    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    out->width = (int)width;
    out->height = (int)height;
    out->channels = channels;
    out->bit_depth = depth;
    out->data = data;
    out->size = row_bytes * height;
    return FOVEA_PNG_OK;
}

int fovea_png_encode(const unsigned char *pixels, int width, int height, int channels,
                     int bit_depth, unsigned char **out, size_t *out_size,
                     char *message, size_t message_size) {
    *out = NULL;
    *out_size = 0;
    if (width <= 0 || height <= 0 || width > 0x7fffffff / 8 || channels < 1 || channels > 4 ||
        (bit_depth != 8 && bit_depth != 16)) {
        set_message(message, message_size, "bad dimensions, channel count or bit depth");
        return FOVEA_PNG_BAD_ARGUMENT;
    }
    static const int color_types[4] = {PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                       PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
    error_context context;
    context.message = message;
    context.message_size = message_size;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &context, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    // The writer lives on the heap so its fields are well defined after a longjmp.
    memory_writer *writer = (memory_writer *)calloc(1, sizeof(memory_writer));
    if (!info || !writer) {
        if (png) png_destroy_write_struct(&png, info ? &info : NULL);
        free(writer);
        set_message(message, message_size, "out of memory");
        return FOVEA_PNG_TOO_LARGE;
    }
    if (setjmp(context.jump)) {
        free(writer->data);
        free(writer);
        png_destroy_write_struct(&png, &info);
        return FOVEA_PNG_TOO_LARGE;
    }
    png_set_write_fn(png, writer, write_bytes, flush_bytes);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, bit_depth,
                 color_types[channels - 1], PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    if (bit_depth == 16 && host_is_little_endian()) png_set_swap(png);  // PNG is big-endian
    const size_t row_bytes = (size_t)width * (size_t)channels * (size_t)(bit_depth / 8);
    for (int y = 0; y < height; y++) {
        png_write_row(png, (png_const_bytep)(pixels + (size_t)y * row_bytes));
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    *out = writer->data;
    *out_size = writer->size;
    free(writer);
    return FOVEA_PNG_OK;
}

void fovea_png_free(void *pointer) { free(pointer); }
