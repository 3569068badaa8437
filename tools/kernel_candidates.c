// The kernel libraries gasa could run its matrix products on, side by side on the products of one
// training step (K: 3 x 300, S: 2 x 128; batch 50 split in two parts of 25 rows, seq 50, vocab 1209,
// the head in chunks of 250 rows), one thread each, row-major, best of 4: OpenBLAS's cblas_sgemm (as
// its environment configures it), oneDNN's dnnl_sgemm, and oneDNN's matmul primitive with plain strided
// operands and a user scratchpad (what gasa runs; brgemm kernels where the CPU has AVX-512). This is
// the measurement behind gasa's choice of kernels (README, "커널"); gasa itself does not link OpenBLAS.
// Build (apt-get install -y libopenblas-dev libdnnl-dev first):
//   cc -O2 -o kernel_candidates tools/kernel_candidates.c -I/usr/include/x86_64-linux-gnu/openblas-pthread -lopenblas -ldnnl
// Run:   OMP_NUM_THREADS=1 ./kernel_candidates
#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHECK(x) do { dnnl_status_t s_ = (x); if (s_ != dnnl_success) { fprintf(stderr, "%s: status %d\n", #x, s_); exit(1); } } while (0)

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static float *filled(size_t n) {
    float *p = aligned_alloc(64, (n * 4 + 63) / 64 * 64);
    for (size_t i = 0; i < n; i++) p[i] = (float)(rand() % 1000) / 1000.0f - 0.5f;
    return p;
}

typedef struct { const char *name; int m, n, k, trans_a, trans_b; float beta; int lda; } Shape;   // lda 0: dense

static dnnl_engine_t engine;
static dnnl_stream_t stream;

// Seconds per call, best of 4 runs of about 0.5 GFLOP each.
static double best_of(void (*f)(void *), void *arg, double flops) {
    int reps = (int)(5e8 / flops) + 1;
    double best = 1e30;
    f(arg);
    for (int r = 0; r < 4; r++) {
        double t0 = now();
        for (int i = 0; i < reps; i++) f(arg);
        double t = (now() - t0) / reps;
        if (t < best) best = t;
    }
    return best;
}

typedef struct {
    Shape s;
    float *a, *b, *c;
    int lda, ldb;
    dnnl_primitive_t matmul;
    dnnl_exec_arg_t args[4];
} Case;

static void run_openblas(void *p) {
    Case *q = p;
    cblas_sgemm(CblasRowMajor, q->s.trans_a ? CblasTrans : CblasNoTrans, q->s.trans_b ? CblasTrans : CblasNoTrans,
                q->s.m, q->s.n, q->s.k, 1, q->a, q->lda, q->b, q->ldb, q->s.beta, q->c, q->s.n);
}

static void run_dnnl_sgemm(void *p) {
    Case *q = p;
    dnnl_sgemm(q->s.trans_a ? 'T' : 'N', q->s.trans_b ? 'T' : 'N', q->s.m, q->s.n, q->s.k, 1, q->a, q->lda, q->b, q->ldb,
               q->s.beta, q->c, q->s.n);
}

static void run_matmul(void *p) {
    Case *q = p;
    CHECK(dnnl_primitive_execute(q->matmul, stream, 4, q->args));
}

static const char *make_matmul(Case *q) {
    Shape s = q->s;
    dnnl_memory_desc_t a_md, b_md, c_md;
    dnnl_dims_t ad = {s.m, s.k}, bd = {s.k, s.n}, cd = {s.m, s.n};
    dnnl_dims_t as = {s.trans_a ? 1 : q->lda, s.trans_a ? q->lda : 1}, bs = {s.trans_b ? 1 : q->ldb, s.trans_b ? q->ldb : 1};
    dnnl_dims_t cs = {s.n, 1};
    CHECK(dnnl_memory_desc_init_by_strides(&a_md, 2, ad, dnnl_f32, as));
    CHECK(dnnl_memory_desc_init_by_strides(&b_md, 2, bd, dnnl_f32, bs));
    CHECK(dnnl_memory_desc_init_by_strides(&c_md, 2, cd, dnnl_f32, cs));
    dnnl_matmul_desc_t desc;
    CHECK(dnnl_matmul_desc_init(&desc, &a_md, &b_md, NULL, &c_md));
    dnnl_primitive_attr_t attr;
    CHECK(dnnl_primitive_attr_create(&attr));
    CHECK(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
    if (s.beta != 0) {
        dnnl_post_ops_t po;
        CHECK(dnnl_post_ops_create(&po));
        CHECK(dnnl_post_ops_append_sum(po, s.beta));
        CHECK(dnnl_primitive_attr_set_post_ops(attr, po));
    }
    dnnl_primitive_desc_t pd;
    CHECK(dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL));
    const char *impl = "?";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    CHECK(dnnl_primitive_create(&q->matmul, pd));
    dnnl_memory_t am, bm, cm, sm;
    CHECK(dnnl_memory_create(&am, &a_md, engine, q->a));
    CHECK(dnnl_memory_create(&bm, &b_md, engine, q->b));
    CHECK(dnnl_memory_create(&cm, &c_md, engine, q->c));
    CHECK(dnnl_memory_create(&sm, smd, engine, DNNL_MEMORY_ALLOCATE));
    q->args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, am};
    q->args[1] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, bm};
    q->args[2] = (dnnl_exec_arg_t){DNNL_ARG_DST, cm};
    q->args[3] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, sm};
    return impl;
}

int main(void) {
    openblas_set_num_threads(1);
    CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
    const dnnl_version_t *v = dnnl_version();
    const char *ct = getenv("OPENBLAS_CORETYPE");
    printf("OpenBLAS %s kernels (OPENBLAS_CORETYPE %s); oneDNN %d.%d.%d, isa 0x%x; one thread, GFLOP/s\n",
           openblas_get_corename(), ct ? ct : "unset", v->major, v->minor, v->patch, (unsigned)dnnl_get_effective_cpu_isa());
    Shape shapes[] = {
        {"K per-step forward", 25, 1200, 300, 0, 0, 1},
        {"K per-step backward", 25, 300, 1200, 0, 0, 1},
        {"K input product (B^T)", 1250, 1200, 300, 0, 1, 0},
        {"K weight gradient (A^T)", 600, 300, 1250, 1, 0, 0, 1200},   // half the rows: one thread's block
        {"K input gradient", 1250, 300, 1200, 0, 0, 0},
        {"K head logits (B^T)", 250, 1209, 300, 0, 1, 1},
        {"K head weight grad (A^T)", 1209, 300, 250, 1, 0, 1},
        {"K head input grad", 250, 300, 1209, 0, 0, 0},
        {"S per-step forward", 25, 512, 128, 0, 0, 1},
        {"S head logits (B^T)", 250, 1209, 128, 0, 1, 1},
    };
    printf("%-26s %-16s %9s %11s %13s\n", "product", "m x n x k", "OpenBLAS", "dnnl_sgemm", "dnnl matmul");
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        Case q = {.s = shapes[i]};
        q.lda = q.s.lda ? q.s.lda : q.s.trans_a ? q.s.m : q.s.k;
        q.ldb = q.s.trans_b ? q.s.k : q.s.n;
        q.a = filled((size_t)(q.s.trans_a ? q.s.k : q.s.m) * q.lda);
        q.b = filled((size_t)q.s.k * q.s.n);
        q.c = filled((size_t)q.s.m * q.s.n);
        const char *impl = make_matmul(&q);
        double flops = 2.0 * q.s.m * q.s.n * q.s.k;
        char dims[32];
        snprintf(dims, sizeof dims, "%dx%dx%d", q.s.m, q.s.n, q.s.k);
        printf("%-26s %-16s %9.1f %11.1f %13.1f  (%s)\n", q.s.name, dims, flops / best_of(run_openblas, &q, flops) / 1e9,
               flops / best_of(run_dnnl_sgemm, &q, flops) / 1e9, flops / best_of(run_matmul, &q, flops) / 1e9, impl);
    }
    return 0;
}
