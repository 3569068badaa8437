// Linux calls that Swift's Glibc module does not import (they sit behind _GNU_SOURCE).
#ifndef GASA_SYSSHIM_H
#define GASA_SYSSHIM_H
#include <stdint.h>

/// Starts writing the file's dirty pages in [offset, offset + nbytes) to disk without waiting
/// (sync_file_range with SYNC_FILE_RANGE_WRITE), so that a later fsync has less to wait for.
/// Returns 0, or -1 with errno set; does nothing where the call does not exist.
int gasa_start_writeback(int fd, int64_t offset, int64_t nbytes);
#endif
