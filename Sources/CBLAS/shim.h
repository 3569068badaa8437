// OpenBLAS's CBLAS interface (Debian libopenblas-dev; pkg-config 'openblas' adds its include dir).
#ifndef GASA_CBLAS_SHIM_H
#define GASA_CBLAS_SHIM_H
#include <cblas.h>
#endif
