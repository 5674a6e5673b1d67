// Memory floor of the D3Q19 forward (pull 19, write 19) against the adjoint's access
// pattern (pull 19 of f, read 19 own adjoints, scatter 19 adjoints to the upstream cells),
// and against other layouts of the adjoints (read along the streaming directions, write
// aligned). Almost no arithmetic, so the times are what the memory system allows.
// Build and run on a GPU host: nvcc -O3 -arch=sm_90 -o floor adjoint_floor.cu && ./floor
// (docs/PERFORMANCE.md, "The adjoint's memory floor").
#include <cstdio>
#include <cuda_runtime.h>
__constant__ int C[19][3] = {{0,0,0},{1,0,0},{-1,0,0},{0,1,0},{0,-1,0},{0,0,1},{0,0,-1},
 {1,1,0},{-1,-1,0},{1,-1,0},{-1,1,0},{1,0,1},{-1,0,-1},{1,0,-1},{-1,0,1},{0,1,1},{0,-1,-1},{0,1,-1},{0,-1,1}};
template <int N>
__device__ __forceinline__ size_t up(int x, int y, int z, int i) {
  int ux = (x - C[i][0] + N) % N, uy = (y - C[i][1] + N) % N, uz = (z - C[i][2] + N) % N;
  return ((size_t)uz * N + uy) * N + ux;
}
template <int N>
__global__ void __launch_bounds__(256) fwd(const float* __restrict__ f, float* __restrict__ g) {
  const size_t n = (size_t)N * N * N;
  size_t c = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  if (c >= n) return;
  int x = c % N, y = (c / N) % N, z = c / ((size_t)N * N);
  float v[19]; float s = 0.f;
#pragma unroll
  for (int i = 0; i < 19; i++) { v[i] = f[i * n + up<N>(x, y, z, i)]; s += v[i]; }
#pragma unroll
  for (int i = 0; i < 19; i++) g[i * n + c] = 0.5f * v[i] + 0.01f * s;
}
template <int N>
__device__ __forceinline__ size_t down(int x, int y, int z, int i) {
  int ux = (x + C[i][0] + N) % N, uy = (y + C[i][1] + N) % N, uz = (z + C[i][2] + N) % N;
  return ((size_t)uz * N + uy) * N + ux;
}
// GATHER_A: read the input adjoint at x + c_i (a shifted layout); SCATTER_B: write at x - c_i.
template <int N, bool GATHER_A, bool SCATTER_B>
__global__ void __launch_bounds__(256) adjv(const float* __restrict__ f, const float* __restrict__ a,
                                          float* __restrict__ b) {
  const size_t n = (size_t)N * N * N;
  size_t c = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  if (c >= n) return;
  int x = c % N, y = (c / N) % N, z = c / ((size_t)N * N);
  float v[19]; float s = 0.f, t = 0.f;
#pragma unroll
  for (int i = 0; i < 19; i++) { v[i] = f[i * n + up<N>(x, y, z, i)]; s += v[i]; }
#pragma unroll
  for (int i = 0; i < 19; i++) { float w = a[i * n + (GATHER_A ? down<N>(x, y, z, i) : c)]; t += w * v[i]; v[i] = w; }
#pragma unroll
  for (int i = 0; i < 19; i++) b[i * n + (SCATTER_B ? up<N>(x, y, z, i) : c)] = 0.5f * v[i] + 0.01f * (s + t);
}
template <typename K> double timeit(K k, int blocks, const float* f, const float* a, float* b) {
  cudaEvent_t e0, e1; cudaEventCreate(&e0); cudaEventCreate(&e1); float ms;
  for (int w = 0; w < 3; w++) k<<<blocks, 256>>>(f, a, b);
  cudaEventRecord(e0); for (int r = 0; r < 50; r++) k<<<blocks, 256>>>(f, a, b); cudaEventRecord(e1); cudaEventSynchronize(e1);
  cudaEventElapsedTime(&ms, e0, e1); return ms / 50;
}
template <int N> void bench() {
  const size_t n = (size_t)N * N * N, bytes = 19 * n * sizeof(float);
  float *f, *g, *a, *b;
  cudaMalloc(&f, bytes); cudaMalloc(&g, bytes); cudaMalloc(&a, bytes); cudaMalloc(&b, bytes);
  cudaMemset(f, 0, bytes); cudaMemset(a, 0, bytes);
  cudaEvent_t e0, e1; cudaEventCreate(&e0); cudaEventCreate(&e1);
  int blocks = (n + 255) / 256; float ms;
  for (int w = 0; w < 5; w++) { fwd<N><<<blocks, 256>>>(f, g); adjv<N, false, true><<<blocks, 256>>>(f, a, b); cudaMemcpy(g, f, bytes, cudaMemcpyDeviceToDevice); }
  const int R = 50;
  cudaEventRecord(e0); for (int r = 0; r < R; r++) cudaMemcpy(g, f, bytes, cudaMemcpyDeviceToDevice); cudaEventRecord(e1); cudaEventSynchronize(e1);
  cudaEventElapsedTime(&ms, e0, e1); double copy = 2.0 * bytes * R / (ms / 1e3) / 1e9;
  cudaEventRecord(e0); for (int r = 0; r < R; r++) fwd<N><<<blocks, 256>>>(f, g); cudaEventRecord(e1); cudaEventSynchronize(e1);
  cudaEventElapsedTime(&ms, e0, e1); double tf = ms / R;
  cudaEventRecord(e0); for (int r = 0; r < R; r++) adjv<N, false, true><<<blocks, 256>>>(f, a, b); cudaEventRecord(e1); cudaEventSynchronize(e1);
  cudaEventElapsedTime(&ms, e0, e1); double ta = ms / R;
  double roof = copy * 1e9 / (2.0 * 19 * 4) / 1e6;
  printf("D3Q19 %d^3 copy %.0f GB/s roofline %.0f MLUPS | floor fwd %.0f MLUPS (%.0f%%) adj %.0f MLUPS | adj/fwd %.3f | err %s\n",
         N, copy, roof, n / tf / 1e3, 100.0 * n / tf / 1e3 / roof, n / ta / 1e3, ta / tf, cudaGetErrorString(cudaGetLastError()));
  double t_oo = timeit(adjv<N, false, true>, blocks, f, a, b);
  double t_oa = timeit(adjv<N, false, false>, blocks, f, a, b);
  double t_ga = timeit(adjv<N, true, false>, blocks, f, a, b);
  double t_gs = timeit(adjv<N, true, true>, blocks, f, a, b);
  printf("  adj variants / fwd time: own a + scatter b %.3f | own a + aligned b %.3f | gathered a + aligned b %.3f | gathered a + scatter b %.3f\n",
         t_oo / tf, t_oa / tf, t_ga / tf, t_gs / tf);
  cudaFree(f); cudaFree(g); cudaFree(a); cudaFree(b);
}
int main() { bench<128>(); bench<256>(); bench<128>(); bench<256>(); return 0; }
