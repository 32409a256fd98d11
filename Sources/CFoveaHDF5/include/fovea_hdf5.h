// A narrow C view of libhdf5 for reading Keras .h5 files: plain C types only, so Swift never
// sees HDF5's headers or its global type macros. Errors are return values; HDF5's own error
// printing is switched off.
#ifndef FOVEA_HDF5_H
#define FOVEA_HDF5_H

#include <stdint.h>

// Opens `path` read-only; returns a file handle >= 0, or -1 when it is not an HDF5 file.
int64_t fovea_h5_open(const char *path);
void fovea_h5_close(int64_t file);

// Whether the object (group or dataset) at `path` exists.
int fovea_h5_exists(int64_t file, const char *path);

// The string attribute `name` of the object at `object` (fixed- or variable-length), as a
// malloc'd NUL-terminated string; NULL when absent or not a scalar string.
char *fovea_h5_string_attribute(int64_t file, const char *object, const char *name);

// The 1-D string-array attribute `name`: returns the count and a malloc'd array of malloc'd
// strings in *out (free with fovea_h5_free_strings); -1 when absent or not strings.
long fovea_h5_string_array_attribute(int64_t file, const char *object, const char *name, char ***out);
void fovea_h5_free_strings(char **strings, long count);

// The rank of the dataset at `path` (dimensions in dims, at most 8); -1 when absent.
int fovea_h5_dataset_shape(int64_t file, const char *path, int64_t dims[8]);

// Reads the dataset at `path` converted to float32 into `out`, which holds `count` elements
// (the dataset's element count). 0 on success, -1 otherwise.
int fovea_h5_read_floats(int64_t file, const char *path, float *out, int64_t count);

#endif
