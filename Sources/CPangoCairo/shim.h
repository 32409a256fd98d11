// Cairo and Pango (Debian libcairo2-dev, libpango1.0-dev): antialiased text for every figure.
#include <pango/pangocairo.h>
