// The Linux calls Swift's Glibc module leaves out (sync_file_range), wrapped so Swift can call them.
#define _GNU_SOURCE
#include "sysshim.h"
#include <fcntl.h>

int gasa_start_writeback(int fd, int64_t offset, int64_t nbytes) {
#if defined(__linux__)
    return sync_file_range(fd, (off_t)offset, (off_t)nbytes, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd; (void)offset; (void)nbytes;
    return 0;
#endif
}
