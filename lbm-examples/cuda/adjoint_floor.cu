// Memory floor of a lattice's forward (pull Q, write Q) against the adjoint's access
// pattern (pull Q of f, read Q own adjoints, scatter Q adjoints to the upstream cells),
// and against other layouts of the adjoints (read along the streaming directions, write
// aligned). Almost no arithmetic, so the times are what the memory system allows.
// D3Q19 on 128^3 and 256^3, D2Q9 on 1024^2 and 4096^2, each twice.
// Build and run on a GPU host: nvcc -O3 -arch=sm_90 -o floor adjoint_floor.cu && ./floor
// (docs/PERFORMANCE.md, "The adjoint's memory floor").
#include <cstdio>
#include <cuda_runtime.h>

// A lattice: its directions, and the edge N of the periodic cube (D = 3) or square (D = 2).
struct D3Q19 {
  static constexpr int D = 3, Q = 19;
  static const char* name() { return "D3Q19"; }
};
struct D2Q9 {
  static constexpr int D = 2, Q = 9;
  static const char* name() { return "D2Q9"; }
};
__constant__ int C19[19][3] = {{0,0,0},{1,0,0},{-1,0,0},{0,1,0},{0,-1,0},{0,0,1},{0,0,-1},
 {1,1,0},{-1,-1,0},{1,-1,0},{-1,1,0},{1,0,1},{-1,0,-1},{1,0,-1},{-1,0,1},{0,1,1},{0,-1,-1},{0,1,-1},{0,-1,1}};
__constant__ int C9[9][3] = {{0,0,0},{1,0,0},{-1,0,0},{0,1,0},{0,-1,0},{1,1,0},{-1,-1,0},{1,-1,0},{-1,1,0}};
template <typename L> __device__ __forceinline__ int c(int i, int a) { return L::Q == 19 ? C19[i][a] : C9[i][a]; }

template <typename L, int N> __host__ __device__ __forceinline__ size_t cells() {
  return L::D == 3 ? (size_t)N * N * N : (size_t)N * N;
}
// The cell at x - c_i (sign -1, where the pull reads from) or x + c_i (sign +1).
template <typename L, int N>
__device__ __forceinline__ size_t shifted(size_t cell, int i, int sign) {
  const int x = cell % N, y = (cell / N) % N, z = L::D == 3 ? cell / ((size_t)N * N) : 0;
  const int ux = (x + sign * c<L>(i, 0) + N) % N, uy = (y + sign * c<L>(i, 1) + N) % N;
  const int uz = L::D == 3 ? (z + sign * c<L>(i, 2) + N) % N : 0;
  return ((size_t)uz * N + uy) * N + ux;
}
template <typename L, int N>
__global__ void __launch_bounds__(256) fwd(const float* __restrict__ f, float* __restrict__ g) {
  const size_t n = cells<L, N>();
  size_t cell = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  if (cell >= n) return;
  float v[L::Q]; float s = 0.f;
#pragma unroll
  for (int i = 0; i < L::Q; i++) { v[i] = f[i * n + shifted<L, N>(cell, i, -1)]; s += v[i]; }
#pragma unroll
  for (int i = 0; i < L::Q; i++) g[i * n + cell] = 0.5f * v[i] + 0.01f * s;
}
// GATHER_A: read the input adjoint at x + c_i (a shifted layout); SCATTER_B: write at x - c_i.
template <typename L, int N, bool GATHER_A, bool SCATTER_B>
__global__ void __launch_bounds__(256) adjv(const float* __restrict__ f, const float* __restrict__ a,
                                          float* __restrict__ b) {
  const size_t n = cells<L, N>();
  size_t cell = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  if (cell >= n) return;
  float v[L::Q]; float s = 0.f, t = 0.f;
#pragma unroll
  for (int i = 0; i < L::Q; i++) { v[i] = f[i * n + shifted<L, N>(cell, i, -1)]; s += v[i]; }
#pragma unroll
  for (int i = 0; i < L::Q; i++) {
    float w = a[i * n + (GATHER_A ? shifted<L, N>(cell, i, 1) : cell)];
    t += w * v[i]; v[i] = w;
  }
#pragma unroll
  for (int i = 0; i < L::Q; i++) b[i * n + (SCATTER_B ? shifted<L, N>(cell, i, -1) : cell)] = 0.5f * v[i] + 0.01f * (s + t);
}
template <typename K> double timeit(K k, int blocks, const float* f, const float* a, float* b) {
  cudaEvent_t e0, e1; cudaEventCreate(&e0); cudaEventCreate(&e1); float ms;
  for (int w = 0; w < 3; w++) k<<<blocks, 256>>>(f, a, b);
  cudaEventRecord(e0); for (int r = 0; r < 50; r++) k<<<blocks, 256>>>(f, a, b); cudaEventRecord(e1); cudaEventSynchronize(e1);
  cudaEventElapsedTime(&ms, e0, e1); return ms / 50;
}
template <typename L, int N> void bench() {
  const size_t n = cells<L, N>(), bytes = L::Q * n * sizeof(float);
  float *f, *g, *a, *b;
  cudaMalloc(&f, bytes); cudaMalloc(&g, bytes); cudaMalloc(&a, bytes); cudaMalloc(&b, bytes);
  cudaMemset(f, 0, bytes); cudaMemset(a, 0, bytes);
  cudaEvent_t e0, e1; cudaEventCreate(&e0); cudaEventCreate(&e1);
  int blocks = (n + 255) / 256; float ms;
  for (int w = 0; w < 5; w++) { fwd<L, N><<<blocks, 256>>>(f, g); adjv<L, N, false, true><<<blocks, 256>>>(f, a, b); cudaMemcpy(g, f, bytes, cudaMemcpyDeviceToDevice); }
  const int R = 50;
  cudaEventRecord(e0); for (int r = 0; r < R; r++) cudaMemcpy(g, f, bytes, cudaMemcpyDeviceToDevice); cudaEventRecord(e1); cudaEventSynchronize(e1);
  cudaEventElapsedTime(&ms, e0, e1); double copy = 2.0 * bytes * R / (ms / 1e3) / 1e9;
  cudaEventRecord(e0); for (int r = 0; r < R; r++) fwd<L, N><<<blocks, 256>>>(f, g); cudaEventRecord(e1); cudaEventSynchronize(e1);
  cudaEventElapsedTime(&ms, e0, e1); double tf = ms / R;
  cudaEventRecord(e0); for (int r = 0; r < R; r++) adjv<L, N, false, true><<<blocks, 256>>>(f, a, b); cudaEventRecord(e1); cudaEventSynchronize(e1);
  cudaEventElapsedTime(&ms, e0, e1); double ta = ms / R;
  double roof = copy * 1e9 / (2.0 * L::Q * 4) / 1e6;
  printf("%s %d^%d copy %.0f GB/s roofline %.0f MLUPS | floor fwd %.0f MLUPS (%.0f%%) adj %.0f MLUPS | adj/fwd %.3f | err %s\n",
         L::name(), N, L::D, copy, roof, n / tf / 1e3, 100.0 * n / tf / 1e3 / roof, n / ta / 1e3, ta / tf,
         cudaGetErrorString(cudaGetLastError()));
  double t_oo = timeit(adjv<L, N, false, true>, blocks, f, a, b);
  double t_oa = timeit(adjv<L, N, false, false>, blocks, f, a, b);
  double t_ga = timeit(adjv<L, N, true, false>, blocks, f, a, b);
  double t_gs = timeit(adjv<L, N, true, true>, blocks, f, a, b);
  printf("  adj variants / fwd time: own a + scatter b %.3f | own a + aligned b %.3f | gathered a + aligned b %.3f | gathered a + scatter b %.3f\n",
         t_oo / tf, t_oa / tf, t_ga / tf, t_gs / tf);
  cudaFree(f); cudaFree(g); cudaFree(a); cudaFree(b);
}
int main() {
  for (int round = 0; round < 2; round++) {
    bench<D3Q19, 128>(); bench<D3Q19, 256>(); bench<D2Q9, 1024>(); bench<D2Q9, 4096>();
  }
  return 0;
}
