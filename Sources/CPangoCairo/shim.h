// Cairo and Pango (Debian libcairo2-dev, libpango1.0-dev): antialiased text for every figure,
// and SVG and PDF surfaces for vector output.
#include <pango/pangocairo.h>
#include <cairo/cairo-svg.h>
#include <cairo/cairo-pdf.h>
