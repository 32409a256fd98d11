#include "fovea_hdf5.h"

#include <hdf5/serial/hdf5.h>
#include <stdlib.h>
#include <string.h>

// No automatic error printing. Before the first call, no clean-up at exit either: files are only
// read, and the library's exit handler could run while another thread still closes a file,
// which made it report "infinite loop closing library" now and then.
static void quiet(void) {
    static int first = 1;
    if (first) { H5dont_atexit(); first = 0; }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

int64_t fovea_h5_open(const char *path) {
    quiet();
    if (H5Fis_hdf5(path) <= 0) return -1;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    return f < 0 ? -1 : (int64_t)f;
}

void fovea_h5_close(int64_t file) { if (file >= 0) H5Fclose((hid_t)file); }

int fovea_h5_exists(int64_t file, const char *path) {
    if (strcmp(path, "/") == 0) return 1;
    // Check each link along the path (H5Lexists fails on a missing intermediate group).
    char buffer[4096];
    size_t n = strlen(path);
    if (n >= sizeof buffer) return 0;
    memcpy(buffer, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buffer[i] == '/' || buffer[i] == 0) {
            char saved = buffer[i];
            buffer[i] = 0;
            if (H5Lexists((hid_t)file, buffer, H5P_DEFAULT) <= 0) return 0;
            buffer[i] = saved;
        }
    }
    return 1;
}

static char *copy_string(const char *s, size_t limit) {
    size_t n = strnlen(s, limit);
    char *out = malloc(n + 1);
    if (!out) return NULL;
    memcpy(out, s, n);
    out[n] = 0;
    return out;
}

// Reads a string attribute with `count` elements into malloc'd strings.
static long read_strings(hid_t attr, char ***out) {
    long result = -1;
    hid_t type = H5Aget_type(attr), space = H5Aget_space(attr);
    if (type < 0 || space < 0 || H5Tget_class(type) != H5T_STRING) goto done;
    hssize_t count = H5Sget_simple_extent_npoints(space);
    if (count < 0 || count > (1 << 20)) goto done;
    char **strings = calloc(count > 0 ? (size_t)count : 1, sizeof(char *));
    if (!strings) goto done;
    if (H5Tis_variable_str(type) > 0) {
        char **raw = calloc(count > 0 ? (size_t)count : 1, sizeof(char *));
        hid_t memtype = H5Tcopy(H5T_C_S1);
        H5Tset_size(memtype, H5T_VARIABLE);
        H5Tset_cset(memtype, H5Tget_cset(type));
        if (raw && H5Aread(attr, memtype, raw) >= 0) {
            for (hssize_t i = 0; i < count; i++) strings[i] = copy_string(raw[i] ? raw[i] : "", 1 << 26);
            H5Dvlen_reclaim(memtype, space, H5P_DEFAULT, raw);
            result = (long)count;
        }
        H5Tclose(memtype);
        free(raw);
    } else {
        size_t size = H5Tget_size(type);
        if (size > 0 && size < (1 << 26) && (size_t)count < ((size_t)1 << 31) / size) {
            char *raw = calloc((size_t)count * size + 1, 1);
            hid_t memtype = H5Tcopy(type);
            if (raw && H5Aread(attr, memtype, raw) >= 0) {
                for (hssize_t i = 0; i < count; i++) strings[i] = copy_string(raw + i * size, size);
                result = (long)count;
            }
            H5Tclose(memtype);
            free(raw);
        }
    }
    if (result < 0) { fovea_h5_free_strings(strings, count); } else { *out = strings; }
done:
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    return result;
}

static hid_t open_attribute(int64_t file, const char *object, const char *name) {
    if (!fovea_h5_exists(file, object)) return -1;
    if (H5Aexists_by_name((hid_t)file, object, name, H5P_DEFAULT) <= 0) return -1;
    return H5Aopen_by_name((hid_t)file, object, name, H5P_DEFAULT, H5P_DEFAULT);
}

char *fovea_h5_string_attribute(int64_t file, const char *object, const char *name) {
    hid_t attr = open_attribute(file, object, name);
    if (attr < 0) return NULL;
    char **strings = NULL;
    long count = read_strings(attr, &strings);
    H5Aclose(attr);
    if (count != 1) { if (count > 0) fovea_h5_free_strings(strings, count); return NULL; }
    char *s = strings[0];
    free(strings);
    return s;
}

long fovea_h5_string_array_attribute(int64_t file, const char *object, const char *name, char ***out) {
    hid_t attr = open_attribute(file, object, name);
    if (attr < 0) return -1;
    long count = read_strings(attr, out);
    H5Aclose(attr);
    return count;
}

void fovea_h5_free_strings(char **strings, long count) {
    if (!strings) return;
    for (long i = 0; i < count; i++) free(strings[i]);
    free(strings);
}

int fovea_h5_dataset_shape(int64_t file, const char *path, int64_t dims[8]) {
    if (!fovea_h5_exists(file, path)) return -1;
    hid_t d = H5Dopen2((hid_t)file, path, H5P_DEFAULT);
    if (d < 0) return -1;
    hid_t space = H5Dget_space(d);
    int rank = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
    if (rank > 8) rank = -1;
    if (rank >= 0) {
        hsize_t h[8];
        H5Sget_simple_extent_dims(space, h, NULL);
        for (int i = 0; i < rank; i++) dims[i] = (int64_t)h[i];
    }
    if (space >= 0) H5Sclose(space);
    H5Dclose(d);
    return rank;
}

int fovea_h5_read_floats(int64_t file, const char *path, float *out, int64_t count) {
    if (!fovea_h5_exists(file, path)) return -1;
    hid_t d = H5Dopen2((hid_t)file, path, H5P_DEFAULT);
    if (d < 0) return -1;
    int result = -1;
    hid_t space = H5Dget_space(d), type = H5Dget_type(d);
    if (space >= 0 && type >= 0 && H5Sget_simple_extent_npoints(space) == count
        && (H5Tget_class(type) == H5T_FLOAT || H5Tget_class(type) == H5T_INTEGER)) {
        result = H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0 ? -1 : 0;
    }
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    H5Dclose(d);
    return result;
}
