// oneDNN behind one entry point for every matrix product gasa makes, with two duties besides:
//
// Threads. OpenMP keeps its thread count per calling thread: a thread OpenMP did not create (a Dispatch
// worker of the data-parallel step) starts with one team thread per core, so two workers each calling a
// product would run four threads on two cores. Every call compares the calling thread's count with the
// one gasa asked for (a thread-local compare) and sets it when they differ. omp_set_num_threads is
// looked up at run time in the OpenMP runtime that oneDNN brought in, so gasa links none itself.
//
// No allocation in the hot loop. oneDNN's SGEMM allocates its packing buffers on every call, which in
// the data-parallel step left tens of MB resident in the threads' malloc arenas. Products with more
// than one row therefore run as matmul primitives (oneDNN's brgemm kernels where the CPU has AVX-512)
// with plain strided operands and a scratchpad owned here: each thread keeps the primitives it has
// built, keyed by shape, strides, alpha, beta and thread count, and one scratchpad that grows to the
// largest any of them needs; after the first call of each shape a product only sets three data
// pointers and executes. One-row products (batch-1 sampling's matrix-vector work, column sums) stay
// on SGEMM, about twice as fast there and with no buffer to pack.
//
// Precision. A thread in bf16 mode (`--precision bf16` training) runs its products on bfloat16 operands
// with float32 accumulation and a float32 result (oneDNN's avx512_core_bf16 kernels, 1.6-2.1x
// the float32 ones on the training shapes). Operands arrive as float32 and are rounded into the
// thread's two conversion buffers (grown like the scratchpad), except an operand the caller already
// holds in bfloat16: the recurrent and output weights, converted once per optimizer step (converting a
// weight matrix for every per-step product would cost about as much as the product), and the gate
// gradients, converted step by step as backpropagation makes them and read by three products after.
#define _GNU_SOURCE
#include "kernelshim.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <oneapi/dnnl/dnnl.h>

// The matmul descriptors and output scales used here are oneDNN 2.x's C API (Debian bookworm ships
// 2.6.3); 3.0 replaced them. Say so at build time rather than fail on a missing function.
#if DNNL_VERSION_MAJOR != 2
#error "gasa's kernel shim is written for oneDNN 2.x (libdnnl-dev 2.x)"
#endif

static atomic_int wanted = 1;
static _Thread_local int have = 0;   // 0: this thread has not set a count yet
static void (*omp_set)(int) = 0;
static pthread_once_t looked_up = PTHREAD_ONCE_INIT;

static void look_up(void) { omp_set = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads"); }

void gasa_kernels_set_threads(int threads) { atomic_store(&wanted, threads < 1 ? 1 : threads); }

static int sync_threads(void) {
    int w = atomic_load_explicit(&wanted, memory_order_relaxed);
    if (have != w) {
        pthread_once(&looked_up, look_up);
        if (omp_set) omp_set(w);
        have = w;
    }
    return w;
}

// MARK: - Per-thread primitive cache

typedef struct {
    int64_t m, n, k, lda, ldb, ldc;
    int trans_a, trans_b, threads, bf16;
    float alpha, beta;
} Key;

typedef struct {
    Key key;
    dnnl_primitive_t primitive;
    dnnl_memory_t a, b, c;
} Entry;

enum { CAPACITY = 64 };   // training, evaluation and the head use a few dozen shapes at most

typedef struct {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    Entry entries[CAPACITY];
    int count, next_evict;
    void *scratch;          // one scratchpad for every primitive of this thread
    size_t scratch_size;
    dnnl_memory_t scratch_memory;
    dnnl_memory_desc_t scratch_md;
    uint16_t *half[2];      // bf16 mode: the left and right operands rounded to bfloat16
    size_t half_count[2];
} Cache;

static _Thread_local Cache *cache = 0;
static pthread_key_t cache_key;
static pthread_once_t cache_key_once = PTHREAD_ONCE_INIT;

static void destroy_entry(Entry *e) {
    dnnl_primitive_destroy(e->primitive);
    dnnl_memory_destroy(e->a);
    dnnl_memory_destroy(e->b);
    dnnl_memory_destroy(e->c);
}

static void destroy_cache(void *p) {
    Cache *c = p;
    for (int i = 0; i < c->count; i++) destroy_entry(&c->entries[i]);
    if (c->scratch_memory) dnnl_memory_destroy(c->scratch_memory);
    free(c->scratch);
    free(c->half[0]);
    free(c->half[1]);
    if (c->stream) dnnl_stream_destroy(c->stream);
    if (c->engine) dnnl_engine_destroy(c->engine);
    free(c);
}

static void make_cache_key(void) { pthread_key_create(&cache_key, destroy_cache); }

static Cache *thread_cache(dnnl_status_t *status) {
    if (cache) return cache;
    Cache *c = calloc(1, sizeof(Cache));
    if (!c) { *status = dnnl_out_of_memory; return 0; }
    if ((*status = dnnl_engine_create(&c->engine, dnnl_cpu, 0)) != dnnl_success
        || (*status = dnnl_stream_create(&c->stream, c->engine, dnnl_stream_default_flags)) != dnnl_success) {
        destroy_cache(c);
        return 0;
    }
    pthread_once(&cache_key_once, make_cache_key);
    pthread_setspecific(cache_key, c);   // freed when the thread ends
    cache = c;
    return c;
}

static int same_key(const Key *x, const Key *y) {
    return x->m == y->m && x->n == y->n && x->k == y->k && x->lda == y->lda && x->ldb == y->ldb && x->ldc == y->ldc
        && x->trans_a == y->trans_a && x->trans_b == y->trans_b && x->threads == y->threads && x->bf16 == y->bf16
        && x->alpha == y->alpha && x->beta == y->beta;
}

// Makes sure the thread's scratchpad holds `size` bytes and has a memory object over it.
static dnnl_status_t ensure_scratch(Cache *c, size_t size) {
    if (c->scratch_memory && size <= c->scratch_size) return dnnl_success;
    size_t grown = size > 2 * c->scratch_size ? size : 2 * c->scratch_size;
    void *p = aligned_alloc(64, (grown + 63) / 64 * 64);
    if (!p) return dnnl_out_of_memory;
    if (c->scratch_memory) dnnl_memory_destroy(c->scratch_memory);
    free(c->scratch);
    c->scratch = p;
    c->scratch_size = grown;
    // A one-dimensional u8 descriptor as large as the buffer serves any primitive's smaller scratchpad.
    dnnl_dims_t dims = {(dnnl_dim_t)grown};
    dnnl_status_t s = dnnl_memory_desc_init_by_tag(&c->scratch_md, 1, dims, dnnl_u8, dnnl_a);
    if (s == dnnl_success) s = dnnl_memory_create(&c->scratch_memory, &c->scratch_md, c->engine, p);
    if (s != dnnl_success) c->scratch_memory = 0;
    return s;
}

static dnnl_status_t build(Cache *c, const Key *key, Entry *e) {
    dnnl_memory_desc_t a_md, b_md, c_md;
    dnnl_dims_t a_dims = {key->m, key->k}, b_dims = {key->k, key->n}, c_dims = {key->m, key->n};
    dnnl_dims_t a_strides = {key->trans_a ? 1 : key->lda, key->trans_a ? key->lda : 1};
    dnnl_dims_t b_strides = {key->trans_b ? 1 : key->ldb, key->trans_b ? key->ldb : 1};
    dnnl_dims_t c_strides = {key->ldc, 1};
    dnnl_status_t s;
    dnnl_data_type_t in = key->bf16 ? dnnl_bf16 : dnnl_f32;
    if ((s = dnnl_memory_desc_init_by_strides(&a_md, 2, a_dims, in, a_strides)) != dnnl_success) return s;
    if ((s = dnnl_memory_desc_init_by_strides(&b_md, 2, b_dims, in, b_strides)) != dnnl_success) return s;
    if ((s = dnnl_memory_desc_init_by_strides(&c_md, 2, c_dims, dnnl_f32, c_strides)) != dnnl_success) return s;
    dnnl_matmul_desc_t desc;
    if ((s = dnnl_matmul_desc_init(&desc, &a_md, &b_md, NULL, &c_md)) != dnnl_success) return s;

    dnnl_primitive_attr_t attr = 0;
    dnnl_post_ops_t post_ops = 0;
    dnnl_primitive_desc_t pd = 0;
    if ((s = dnnl_primitive_attr_create(&attr)) != dnnl_success) goto done;
    if ((s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user)) != dnnl_success) goto done;
    if (key->alpha != 1.0f && (s = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &key->alpha)) != dnnl_success) goto done;
    if (key->beta != 0.0f) {   // C = alpha AB + beta C: the sum post-op
        if ((s = dnnl_post_ops_create(&post_ops)) != dnnl_success) goto done;
        if ((s = dnnl_post_ops_append_sum(post_ops, key->beta)) != dnnl_success) goto done;
        if ((s = dnnl_primitive_attr_set_post_ops(attr, post_ops)) != dnnl_success) goto done;
    }
    if ((s = dnnl_primitive_desc_create(&pd, &desc, attr, c->engine, NULL)) != dnnl_success) goto done;
    const dnnl_memory_desc_t *scratch_md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t scratch_size = scratch_md ? dnnl_memory_desc_get_size(scratch_md) : 0;
    if (scratch_size > 0 && (s = ensure_scratch(c, scratch_size)) != dnnl_success) goto done;
    memset(e, 0, sizeof *e);
    e->key = *key;
    if ((s = dnnl_primitive_create(&e->primitive, pd)) != dnnl_success) goto done;
    if ((s = dnnl_memory_create(&e->a, &a_md, c->engine, DNNL_MEMORY_NONE)) != dnnl_success
        || (s = dnnl_memory_create(&e->b, &b_md, c->engine, DNNL_MEMORY_NONE)) != dnnl_success
        || (s = dnnl_memory_create(&e->c, &c_md, c->engine, DNNL_MEMORY_NONE)) != dnnl_success) {
        if (e->primitive) dnnl_primitive_destroy(e->primitive);
        if (e->a) dnnl_memory_destroy(e->a);
        if (e->b) dnnl_memory_destroy(e->b);
        if (e->c) dnnl_memory_destroy(e->c);
    }
done:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (post_ops) dnnl_post_ops_destroy(post_ops);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return s;
}

static Entry *lookup(Cache *c, const Key *key, dnnl_status_t *status) {
    for (int i = 0; i < c->count; i++) if (same_key(&c->entries[i].key, key)) return &c->entries[i];
    Entry fresh;
    if ((*status = build(c, key, &fresh)) != dnnl_success) return 0;
    int slot;
    if (c->count < CAPACITY) {
        slot = c->count++;
    } else {   // full: replace entries in turn (only a caller cycling through many shapes gets here)
        slot = c->next_evict;
        c->next_evict = (c->next_evict + 1) % CAPACITY;
        destroy_entry(&c->entries[slot]);
    }
    c->entries[slot] = fresh;
    return &c->entries[slot];
}

static _Thread_local int bf16_mode = 0;

void gasa_kernels_set_bf16(int on) { bf16_mode = on != 0; }
int gasa_kernels_bf16(void) { return bf16_mode; }

int gasa_kernels_bf16_supported(void) {
    const int bf16_isa = 0xe7;   // dnnl_cpu_isa_avx512_core_bf16; AMX contains it
    return (dnnl_get_effective_cpu_isa() & bf16_isa) == bf16_isa;
}

// Operand `which` of the calling thread's cache, rows x cols of src (row stride ld) rounded to bfloat16
// and packed; 0 when memory runs out.
static const uint16_t *to_half(Cache *c, int which, int64_t rows, int64_t cols, const float *src, int64_t ld) {
    size_t count = (size_t)(rows * cols);
    if (count > c->half_count[which]) {
        size_t grown = count > 2 * c->half_count[which] ? count : 2 * c->half_count[which];
        uint16_t *p = aligned_alloc(64, (grown * 2 + 63) / 64 * 64);
        if (!p) return 0;
        free(c->half[which]);
        c->half[which] = p;
        c->half_count[which] = grown;
    }
    gasa_to_bf16(rows, cols, src, ld, c->half[which]);
    return c->half[which];
}

int gasa_gemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
              const uint16_t *a_half, int64_t lda, const float *b, const uint16_t *b_half, int64_t ldb, float beta,
              float *c, int64_t ldc) {
    int threads = sync_threads();
    if (m == 1 || n == 0 || k == 0)
        return (int)dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    if (m == 0) return 0;
    dnnl_status_t s = dnnl_success;
    Cache *cc = thread_cache(&s);
    if (!cc) return (int)s;
    const void *pa = a, *pb = b;
    if (bf16_mode) {
        // The operands as stored: op(A) = A^T stores k x m, op(B) = B^T stores n x k.
        if (a_half) {
            pa = a_half;
        } else {
            int64_t ar = trans_a ? k : m, ac = trans_a ? m : k;
            if (!(pa = to_half(cc, 0, ar, ac, a, lda))) return (int)dnnl_out_of_memory;
            lda = ac;
        }
        if (b_half) {
            pb = b_half;
        } else {
            int64_t br = trans_b ? n : k, bc = trans_b ? k : n;
            if (!(pb = to_half(cc, 1, br, bc, b, ldb))) return (int)dnnl_out_of_memory;
            ldb = bc;
        }
    }
    Key key = {m, n, k, lda, ldb, ldc, trans_a != 0, trans_b != 0, threads, bf16_mode, alpha, beta};
    Entry *e = lookup(cc, &key, &s);
    if (!e) return (int)s;
    if ((s = dnnl_memory_set_data_handle(e->a, (void *)pa)) != dnnl_success
        || (s = dnnl_memory_set_data_handle(e->b, (void *)pb)) != dnnl_success
        || (s = dnnl_memory_set_data_handle(e->c, c)) != dnnl_success) return (int)s;
    dnnl_exec_arg_t args[4] = {
        {DNNL_ARG_SRC, e->a}, {DNNL_ARG_WEIGHTS, e->b}, {DNNL_ARG_DST, e->c}, {DNNL_ARG_SCRATCHPAD, cc->scratch_memory},
    };
    return (int)dnnl_primitive_execute(e->primitive, cc->stream, cc->scratch_memory ? 4 : 3, args);
}

int gasa_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
               const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    return gasa_gemm(trans_a, trans_b, m, n, k, alpha, a, 0, lda, b, 0, ldb, beta, c, ldc);
}

int gasa_kernels_isa(void) { return (int)dnnl_get_effective_cpu_isa(); }

void gasa_kernels_version(int *major, int *minor, int *patch) {
    const dnnl_version_t *v = dnnl_version();
    *major = v->major; *minor = v->minor; *patch = v->patch;
}

int gasa_cpu_vector_isa(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")
        && __builtin_cpu_supports("avx512dq")) return 0x27;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 0x7;
    if (__builtin_cpu_supports("avx")) return 0x3;
    if (__builtin_cpu_supports("sse4.1")) return 0x1;
    return 0;
}
