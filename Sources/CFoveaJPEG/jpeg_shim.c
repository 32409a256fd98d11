// libjpeg decode/encode behind setjmp; see include/CFoveaJPEG.h.
#include "CFoveaJPEG.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

/// Largest decoded buffer we agree to allocate (bytes).
#define FOVEA_JPEG_MAX_BYTES ((size_t)1 << 31)
// The largest image decoded, checked from the header before anything is allocated.
#define FOVEA_JPEG_MAX_PIXELS ((unsigned long long)100000000)

typedef struct {
    struct jpeg_error_mgr base;  // must be first: libjpeg hands us a pointer to it
    jmp_buf jump;
    char *message;
    size_t message_size;
} error_manager;

typedef struct {
    unsigned char *buffer;   // owned by libjpeg's memory destination until we take it
    unsigned long size;
} encoded_buffer;

static void set_message(char *message, size_t size, const char *text) {
    if (message && size > 0) snprintf(message, size, "%s", text);
}

static void on_error_exit(j_common_ptr cinfo) {
    error_manager *manager = (error_manager *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    set_message(manager->message, manager->message_size, text);
    longjmp(manager->jump, 1);
}

static void on_emit_message(j_common_ptr cinfo, int level) {
    if (level >= 0) return;  // trace messages
    // A premature end of file is a warning in libjpeg (it pads with gray); we treat it as
    // fatal. (libjpeg-turbo reads ahead, so even a file missing only its final EOI marker hits
    // this while the last scanlines are decoded; such a file is rejected too.)
    if (cinfo->err->msg_code == JWRN_JPEG_EOF) on_error_exit(cinfo);
    // Corrupt entropy-coded data (libjpeg would decode on, with gray or garbage blocks): an error too.
    if (cinfo->err->msg_code == JWRN_EXTRANEOUS_DATA || cinfo->err->msg_code == JWRN_HIT_MARKER ||
        cinfo->err->msg_code == JWRN_MUST_RESYNC || cinfo->err->msg_code == JWRN_HUFF_BAD_CODE) on_error_exit(cinfo);
    cinfo->err->num_warnings++;
}

static void install_errors(error_manager *manager, char *message, size_t message_size) {
    jpeg_std_error(&manager->base);
    manager->base.error_exit = on_error_exit;
    manager->base.emit_message = on_emit_message;
    manager->message = message;
    manager->message_size = message_size;
}

int fovea_jpeg_decode(const unsigned char *bytes, size_t length, fovea_jpeg_image *out,
                      char *message, size_t message_size) {
    memset(out, 0, sizeof *out);
    if (length < 3 || bytes[0] != 0xFF || bytes[1] != 0xD8 || bytes[2] != 0xFF) {
        set_message(message, message_size, "missing JPEG SOI marker");
        return FOVEA_JPEG_NOT_JPEG;
    }
    struct jpeg_decompress_struct cinfo;
    error_manager errors;
    install_errors(&errors, message, message_size);
    cinfo.err = &errors.base;
    // Assigned after setjmp and needed after a longjmp, hence volatile.
    unsigned char *volatile data = NULL;
    volatile int status = FOVEA_JPEG_CORRUPT;
    if (setjmp(errors.jump)) {
        free(data);
        jpeg_destroy_decompress(&cinfo);
        return status;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, bytes, (unsigned long)length);
    jpeg_read_header(&cinfo, TRUE);
    if ((unsigned long long)cinfo.image_width * cinfo.image_height > FOVEA_JPEG_MAX_PIXELS) {
        status = FOVEA_JPEG_TOO_LARGE;
        snprintf(message, message_size, "the header declares %ux%u pixels, more than the 100-megapixel limit",
                 (unsigned)cinfo.image_width, (unsigned)cinfo.image_height);
        longjmp(errors.jump, 1);
    }

    int channels;
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
        cinfo.out_color_space = JCS_GRAYSCALE;
        channels = 1;
        break;
    case JCS_YCbCr:
    case JCS_RGB:
        cinfo.out_color_space = JCS_RGB;
        channels = 3;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        status = FOVEA_JPEG_UNSUPPORTED;
        set_message(message, message_size, "CMYK/YCCK JPEG is not supported");
        longjmp(errors.jump, 1);
    default:
        status = FOVEA_JPEG_UNSUPPORTED;
        set_message(message, message_size, "unknown JPEG colour space");
        longjmp(errors.jump, 1);
    }
    jpeg_start_decompress(&cinfo);
    const size_t width = cinfo.output_width, height = cinfo.output_height;
    if ((int)cinfo.output_components != channels) {
        status = FOVEA_JPEG_UNSUPPORTED;
        set_message(message, message_size, "unexpected number of output components");
        longjmp(errors.jump, 1);
    }
    const size_t row_bytes = width * (size_t)channels;
    if (width == 0 || height == 0 || row_bytes > FOVEA_JPEG_MAX_BYTES / height) {
        status = FOVEA_JPEG_TOO_LARGE;
        set_message(message, message_size, "image dimensions too large");
        longjmp(errors.jump, 1);
    }
    data = (unsigned char *)malloc(row_bytes * height);
    if (!data) {
        status = FOVEA_JPEG_TOO_LARGE;
        set_message(message, message_size, "out of memory");
        longjmp(errors.jump, 1);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = data + (size_t)cinfo.output_scanline * row_bytes;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    out->width = (int)width;
    out->height = (int)height;
    out->channels = channels;
    out->data = data;
    out->size = row_bytes * height;
    return FOVEA_JPEG_OK;
}

int fovea_jpeg_encode(const unsigned char *pixels, int width, int height, int channels,
                      int quality, unsigned char **out, size_t *out_size,
                      char *message, size_t message_size) {
    *out = NULL;
    *out_size = 0;
    if (width <= 0 || height <= 0 || width > 65500 || height > 65500 ||
        (channels != 1 && channels != 3)) {
        set_message(message, message_size,
                    "JPEG needs 1 or 3 channels and sides of 1...65500 pixels");
        return FOVEA_JPEG_BAD_ARGUMENT;
    }
    if (quality < 1) quality = 1;
    if (quality > 100) quality = 100;
    struct jpeg_compress_struct cinfo;
    error_manager errors;
    install_errors(&errors, message, message_size);
    cinfo.err = &errors.base;
    // On the heap so the pointer libjpeg updates is well defined after a longjmp.
    encoded_buffer *encoded = (encoded_buffer *)calloc(1, sizeof(encoded_buffer));
    if (!encoded) {
        set_message(message, message_size, "out of memory");
        return FOVEA_JPEG_TOO_LARGE;
    }
    if (setjmp(errors.jump)) {
        free(encoded->buffer);
        free(encoded);
        jpeg_destroy_compress(&cinfo);
        return FOVEA_JPEG_CORRUPT;
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &encoded->buffer, &encoded->size);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = channels;
    cinfo.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    const size_t row_bytes = (size_t)width * (size_t)channels;
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)cinfo.next_scanline * row_bytes);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    *out = encoded->buffer;
    *out_size = (size_t)encoded->size;
    free(encoded);
    return FOVEA_JPEG_OK;
}

void fovea_jpeg_free(void *pointer) { free(pointer); }
