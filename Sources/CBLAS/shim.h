// OpenBLAS's CBLAS interface. Debian installs it as cblas-openblas.h next to the generic cblas.h
// (which the alternatives system may point at the reference BLAS); we always link libopenblas.
#if __has_include(<cblas-openblas.h>)
#include <cblas-openblas.h>
#else
#include <cblas.h>
#endif
