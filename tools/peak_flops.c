// The machine's single-precision FMA ceiling: independent chains of fused multiply-adds in registers,
// nothing loaded or stored, on 1..THREADS threads, with 256-bit (AVX2) and, where the CPU has it,
// 512-bit (AVX-512) vectors. No matrix product can run faster than this; tools/bench_train.sh prints it
// beside the FLOP rates gasa and PyTorch reach.
// Build: cc -O2 -pthread -o peak_flops tools/peak_flops.c      Run: ./peak_flops [threads] (default 2)
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { CHAINS = 12 };                  // enough independent FMAs in flight to hide the latency
static const long ROUNDS = 20000000;  // per thread: ROUNDS x CHAINS FMAs on a vector

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

// Each round does CHAINS FMAs written out one by one, so every chain stays in its own register.
#define ROUND(fma) \
    x0 = fma(x0, m, a); x1 = fma(x1, m, a); x2 = fma(x2, m, a); x3 = fma(x3, m, a); \
    x4 = fma(x4, m, a); x5 = fma(x5, m, a); x6 = fma(x6, m, a); x7 = fma(x7, m, a); \
    x8 = fma(x8, m, a); x9 = fma(x9, m, a); x10 = fma(x10, m, a); x11 = fma(x11, m, a);

__attribute__((target("avx2,fma"))) static void *run256(void *out) {
    __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
    // Distinct starting values, or the compiler sees twelve equal chains and keeps one.
    __m256 x0 = _mm256_set1_ps(0.10f), x1 = _mm256_set1_ps(0.11f), x2 = _mm256_set1_ps(0.12f);
    __m256 x3 = _mm256_set1_ps(0.13f), x4 = _mm256_set1_ps(0.14f), x5 = _mm256_set1_ps(0.15f);
    __m256 x6 = _mm256_set1_ps(0.16f), x7 = _mm256_set1_ps(0.17f), x8 = _mm256_set1_ps(0.18f);
    __m256 x9 = _mm256_set1_ps(0.19f), x10 = _mm256_set1_ps(0.20f), x11 = _mm256_set1_ps(0.21f);
    for (long r = 0; r < ROUNDS; r++) { ROUND(_mm256_fmadd_ps) }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3)),
                             _mm256_add_ps(_mm256_add_ps(x4, x5), _mm256_add_ps(x6, x7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(x8, x9), _mm256_add_ps(x10, x11)));
    float lanes[8];
    _mm256_storeu_ps(lanes, s);
    *(float *)out = lanes[0];          // keeps the work observable
    return NULL;
}

__attribute__((target("avx512f"))) static void *run512(void *out) {
    __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
    __m512 x0 = _mm512_set1_ps(0.10f), x1 = _mm512_set1_ps(0.11f), x2 = _mm512_set1_ps(0.12f);
    __m512 x3 = _mm512_set1_ps(0.13f), x4 = _mm512_set1_ps(0.14f), x5 = _mm512_set1_ps(0.15f);
    __m512 x6 = _mm512_set1_ps(0.16f), x7 = _mm512_set1_ps(0.17f), x8 = _mm512_set1_ps(0.18f);
    __m512 x9 = _mm512_set1_ps(0.19f), x10 = _mm512_set1_ps(0.20f), x11 = _mm512_set1_ps(0.21f);
    for (long r = 0; r < ROUNDS; r++) { ROUND(_mm512_fmadd_ps) }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(x0, x1), _mm512_add_ps(x2, x3)),
                             _mm512_add_ps(_mm512_add_ps(x4, x5), _mm512_add_ps(x6, x7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(x8, x9), _mm512_add_ps(x10, x11)));
    *(float *)out = _mm512_reduce_add_ps(s);
    return NULL;
}

// Best of three runs on `threads` threads, in GFLOP/s (an FMA on a lane counts as two FLOPs).
static double measure(void *(*body)(void *), int lanes, int threads) {
    pthread_t ids[64];
    float sink[64];
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now();
        for (int i = 0; i < threads; i++) pthread_create(&ids[i], NULL, body, &sink[i]);
        for (int i = 0; i < threads; i++) pthread_join(ids[i], NULL);
        double rate = (double)ROUNDS * CHAINS * lanes * 2 * threads / (now() - t0) / 1e9;
        if (rate > best) best = rate;
    }
    return best;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    if (threads < 1 || threads > 64) {
        fprintf(stderr, "peak_flops: threads must be 1 to 64, not %s\n", argv[1]);
        return 2;
    }
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        printf("FMA peak: this CPU has no AVX2/FMA\n");
        return 0;
    }
    printf("FMA peak, %d thread%s: AVX2 %.1f GFLOP/s", threads, threads == 1 ? "" : "s",
           measure(run256, 8, threads));
    if (__builtin_cpu_supports("avx512f"))
        printf(", AVX-512 %.1f GFLOP/s", measure(run512, 16, threads));
    else
        printf(", AVX-512 not available");
    printf("\n");
    return 0;
}
