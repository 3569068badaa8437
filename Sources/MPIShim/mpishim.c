// Open MPI loaded with dlopen (see mpishim.h). Its handles are addresses of libmpi's predefined objects
// (what mpi.h's MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM ... expand to in Open MPI), looked up with dlsym.
// RTLD_GLOBAL: Open MPI's own plugins, which it dlopens in turn, resolve libmpi's symbols through it.
#include "mpishim.h"
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void *handle;
static int (*p_init_thread)(int *, char ***, int, int *);
static int (*p_comm_rank)(handle, int *);
static int (*p_comm_size)(handle, int *);
static int (*p_allreduce)(const void *, void *, int, handle, handle, handle);
static int (*p_bcast)(void *, int, handle, int, handle);
static int (*p_abort)(handle, int);
static int (*p_finalize)(void);
static handle comm_world, type_float, type_double, type_byte, op_sum, op_max;
static int rank_ = 0, size_ = 1;

#define IN_PLACE ((void *)1)   /* Open MPI's MPI_IN_PLACE */
#define THREAD_FUNNELED 1      /* MPI_THREAD_FUNNELED: only the main thread calls MPI */
#define PIECE (1 << 30)

static void *find(void *lib, const char *name, char *error, size_t capacity) {
    void *p = dlsym(lib, name);
    if (!p) snprintf(error, capacity, "libmpi has no %s: not Open MPI 4 or later (%s)", name, dlerror());
    return p;
}

int gasa_mpi_start(char *error, size_t capacity) {
    const char *names[] = {"libmpi.so.40", "libmpi.so"};
    void *lib = NULL;
    for (int i = 0; i < 2 && !lib; i++) lib = dlopen(names[i], RTLD_NOW | RTLD_GLOBAL);
    if (!lib) {
        snprintf(error, capacity, "cannot load Open MPI's libmpi.so.40 (%s); install it (Debian: apt-get install "
                 "openmpi-bin)", dlerror());
        return -1;
    }
#define FIND(var, name) if (!(*(void **)&(var) = find(lib, name, error, capacity))) return -1
    FIND(p_init_thread, "MPI_Init_thread");
    FIND(p_comm_rank, "MPI_Comm_rank");
    FIND(p_comm_size, "MPI_Comm_size");
    FIND(p_allreduce, "MPI_Allreduce");
    FIND(p_bcast, "MPI_Bcast");
    FIND(p_abort, "MPI_Abort");
    FIND(p_finalize, "MPI_Finalize");
    FIND(comm_world, "ompi_mpi_comm_world");
    FIND(type_float, "ompi_mpi_float");
    FIND(type_double, "ompi_mpi_double");
    FIND(type_byte, "ompi_mpi_byte");
    FIND(op_sum, "ompi_mpi_op_sum");
    FIND(op_max, "ompi_mpi_op_max");
#undef FIND
    int provided = 0;
    int rc = p_init_thread(NULL, NULL, THREAD_FUNNELED, &provided);
    if (rc != 0) { snprintf(error, capacity, "MPI_Init_thread failed (error %d)", rc); return rc; }
    if (provided < THREAD_FUNNELED) {
        snprintf(error, capacity, "this Open MPI gives thread level %d; gasa needs MPI_THREAD_FUNNELED", provided);
        return -1;
    }
    p_comm_rank(comm_world, &rank_);
    p_comm_size(comm_world, &size_);
    return 0;
}

int gasa_mpi_rank(void) { return rank_; }
int gasa_mpi_size(void) { return size_; }

int gasa_mpi_sum_floats(float *values, int64_t count) {
    for (int64_t k = 0; k < count; k += PIECE) {
        int n = (int)(count - k < PIECE ? count - k : PIECE);
        int rc = p_allreduce(IN_PLACE, values + k, n, type_float, op_sum, comm_world);
        if (rc != 0) return rc;
    }
    return 0;
}

int gasa_mpi_sum_doubles(double *values, int count) {
    return p_allreduce(IN_PLACE, values, count, type_double, op_sum, comm_world);
}

int gasa_mpi_max_doubles(double *values, int count) {
    return p_allreduce(IN_PLACE, values, count, type_double, op_max, comm_world);
}

int gasa_mpi_broadcast(void *bytes, int64_t count, int root) {
    for (int64_t k = 0; k < count; k += PIECE) {
        int n = (int)(count - k < PIECE ? count - k : PIECE);
        int rc = p_bcast((char *)bytes + k, n, type_byte, root, comm_world);
        if (rc != 0) return rc;
    }
    return 0;
}

void gasa_mpi_abort(int code) {
    if (p_abort) p_abort(comm_world, code);
    fflush(NULL);
    _Exit(code);
}

int gasa_mpi_finish(void) { return p_finalize ? p_finalize() : 0; }
