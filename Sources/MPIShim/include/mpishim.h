// Open MPI for gasa train under mpirun, loaded at run time (dlopen), so that gasa builds and runs without
// Open MPI installed: only the few calls data-parallel training needs, on MPI_COMM_WORLD.
#ifndef GASA_MPISHIM_H
#define GASA_MPISHIM_H
#include <stddef.h>
#include <stdint.h>

// Loads libmpi (Open MPI's ABI) and MPI_Init_thread(FUNNELED). 0 on success; else a message in `error`.
int gasa_mpi_start(char *error, size_t capacity);
int gasa_mpi_rank(void);
int gasa_mpi_size(void);
// In-place sums over every rank (MPI_Allreduce with MPI_IN_PLACE), in pieces of at most 2^30 values.
// 0 on success, else the MPI error code (with the default error handler a failure aborts the job first).
int gasa_mpi_sum_floats(float *values, int64_t count);
int gasa_mpi_sum_doubles(double *values, int count);
int gasa_mpi_max_doubles(double *values, int count);
// Rank `root`'s bytes into every rank's buffer.
int gasa_mpi_broadcast(void *bytes, int64_t count, int root);
// Ends the whole job with this exit code (MPI_Abort); does not return.
void gasa_mpi_abort(int code);
int gasa_mpi_finish(void);
#endif
