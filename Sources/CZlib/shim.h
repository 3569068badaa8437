// zlib (Debian zlib1g-dev), for its crc32: the same CRC-32 as gasa's formats, several times faster than
// a portable table loop.
#ifndef GASA_CZLIB_SHIM_H
#define GASA_CZLIB_SHIM_H
#include <zlib.h>
#endif
