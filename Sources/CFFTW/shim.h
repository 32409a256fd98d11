// FFTW 3, single precision (Debian libfftw3-dev): the real 2-D transforms of feature
// visualisation's Fourier parameterisation.
#include <fftw3.h>
