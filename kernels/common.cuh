// common.cuh: plumbing shared by every gpugrad kernel.
//
// Every header in kernels/ compiles three ways, from the same text:
//   * by NVRTC, inside CuPy (gpugrad/kernels.py inlines the local #includes first);
//   * by nvcc (`nvcc -c -I kernels foo.cu`), which the CPU test suite does to check syntax;
//   * by a plain host C++ compiler (g++), so the CPU tests can run the arithmetic on the host
//     and compare it with the NumPy twins in gpugrad/kernels.py.
// Outside CUDA the __host__ / __device__ qualifiers are defined away and <math.h> supplies the
// maths; inside CUDA nothing is #included, because NVRTC has no standard headers.
#ifndef GPUGRAD_COMMON_CUH
#define GPUGRAD_COMMON_CUH

#ifndef __CUDACC__
#include <math.h>
#ifndef __host__
#define __host__
#endif
#ifndef __device__
#define __device__
#endif
#endif

// Qualifiers of a function that runs on both sides.
#define GG_HD __host__ __device__ inline

namespace gg {

// Overloads that pick the float or double maths function, the same on host and device
// (plain `exp(float)` would silently promote to double in host C).
GG_HD float exp_(float x) { return expf(x); }
GG_HD double exp_(double x) { return exp(x); }
GG_HD float log_(float x) { return logf(x); }
GG_HD double log_(double x) { return log(x); }
GG_HD float sqrt_(float x) { return sqrtf(x); }
GG_HD double sqrt_(double x) { return sqrt(x); }
GG_HD float quiet_nan(float) { return nanf(""); }
GG_HD double quiet_nan(double) { return nan(""); }

// The type the arithmetic runs in for storage type T: double for double, float otherwise
// (so float16 is loaded, computed in float, and rounded once when stored).
template <typename T> struct acc { typedef float type; };
template <> struct acc<double> { typedef double type; };

// The type long sums accumulate in: double, so a float32 row of 1e5 terms sums to within an
// ulp of the exact value, not within sqrt(1e5) ulp.
template <typename T> struct wide { typedef double type; };

#ifdef __CUDACC__
// Sixteen bytes of T (float4-sized for float, double2-sized for double): one aligned 128-bit
// load or store per thread, which is what lets a memory-bound kernel reach copy bandwidth.
template <typename T>
struct alignas(16) Pack {
    static const int N = 16 / sizeof(T);
    T v[16 / sizeof(T)];
};

__device__ __forceinline__ long long global_thread_id() {
    return (long long)blockIdx.x * blockDim.x + threadIdx.x;
}

__device__ __forceinline__ long long global_thread_count() {
    return (long long)gridDim.x * blockDim.x;
}
#endif  // __CUDACC__

}  // namespace gg

#endif  // GPUGRAD_COMMON_CUH
