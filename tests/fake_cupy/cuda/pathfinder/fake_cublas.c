/* The stand-in's cuBLAS: the six functions gpugrad's own handle calls (gpugrad/backend/cublas.py),
   with cuBLAS's signatures and checks, on host memory (the stand-in's "device" memory). A gemm
   checks its arguments as cuBLAS does, then hands them to the stand-in (a Python callback), which
   computes it in column-major order with fake_gemm_* below and, during a CUDA graph capture,
   records it for the graph's replays. */
#include <stdlib.h>
#include <stddef.h>

typedef struct { void* stream; void* workspace; size_t workspace_size; } Handle;
typedef int (*gemm_callback)(int dbl, void* handle, void* stream, int ta, int tb, int m, int n,
                             int k, const void* alpha, const void* A, int lda, const void* B,
                             int ldb, const void* beta, void* C, int ldc);
static gemm_callback callback = 0;

void fake_cublas_set_callback(gemm_callback cb) { callback = cb; }

int cublasCreate_v2(void** handle) { *handle = calloc(1, sizeof(Handle)); return 0; }
int cublasDestroy_v2(void* handle) { free(handle); return 0; }
int cublasSetStream_v2(void* handle, void* stream) { ((Handle*)handle)->stream = stream; return 0; }
int cublasSetWorkspace_v2(void* handle, void* workspace, size_t size) {
    if (size && !workspace) return 7;                   /* CUBLAS_STATUS_INVALID_VALUE */
    ((Handle*)handle)->workspace = workspace;
    ((Handle*)handle)->workspace_size = size;
    return 0;
}

static int max1(int v) { return v > 1 ? v : 1; }

static int check(int ta, int tb, int m, int n, int k, int lda, int ldb, int ldc) {
    if ((ta != 0 && ta != 1) || (tb != 0 && tb != 1) || m < 0 || n < 0 || k < 0) return 7;
    if (lda < max1(ta == 0 ? m : k) || ldb < max1(tb == 0 ? k : n) || ldc < max1(m)) return 7;
    return 0;
}

#define GG_FAKE_GEMM(NAME, T, DBL)                                                          \
int NAME(void* h, int ta, int tb, int m, int n, int k, const T* alpha, const T* A, int lda,  \
         const T* B, int ldb, const T* beta, T* C, int ldc) {                                \
    int status = check(ta, tb, m, n, k, lda, ldb, ldc);                                      \
    if (status) return status;                                                               \
    if (!((Handle*)h)->workspace) return 13;  /* gpugrad always sets one (stand-in check) */ \
    return callback(DBL, h, ((Handle*)h)->stream, ta, tb, m, n, k, alpha, A, lda, B, ldb,    \
                    beta, C, ldc);                                                           \
}                                                                                            \
void fake_##NAME(int ta, int tb, int m, int n, int k, T alpha, const T* A, int lda,          \
                 const T* B, int ldb, T beta, T* C, int ldc) {                               \
    for (int j = 0; j < n; ++j)                                                              \
        for (int i = 0; i < m; ++i) {                                                        \
            double acc = 0;                                                                  \
            for (int p = 0; p < k; ++p)                                                      \
                acc += (double)(ta ? A[p + (long)i * lda] : A[i + (long)p * lda])            \
                     * (double)(tb ? B[j + (long)p * ldb] : B[p + (long)j * ldb]);           \
            C[i + (long)j * ldc] = (T)(alpha * acc + (beta != 0 ? beta * C[i + (long)j * ldc] : 0)); \
        }                                                                                    \
}

GG_FAKE_GEMM(cublasSgemm_v2, float, 0)
GG_FAKE_GEMM(cublasDgemm_v2, double, 1)
