//! What each part of a split domain keeps for its halo exchanges (see [`super::halo`]):
//! the buffers and kernels that pack, unpack and zero runs of layers, and the exchange
//! stream with the events that order it against the part's own stream. The engine owns
//! these; the exchange itself, over all parts at once, is `halo`'s.

use std::cell::Cell;
use std::ops::Range;
use std::sync::Arc;

use cudarc::driver::sys::CUevent_flags;
use cudarc::driver::{CudaEvent, CudaFunction, CudaSlice, CudaStream, PushKernelArg};

use super::buffers::{function, launch_config, GpuReal};
use super::cache::module;
use super::driver::Device;
use crate::error::{LbmError, Result};

/// The kernels packing and unpacking the directions of a run of layers, and zeroing one.
const PACK: &str = "lbm_k_pack_layers";
/// See [`PACK`].
const UNPACK: &str = "lbm_k_unpack_layers";
/// See [`PACK`].
const ZERO: &str = "lbm_k_zero_layers";

/// `buf[d * count + k]` is `state[i_d * n + first + k]`, where `i_d` is the `d`-th set bit
/// of `mask` (`d` is the block row): packing reads the state, unpacking writes (or adds
/// to) it.
fn pack_source(real: &str) -> String {
    format!(
        "typedef {real} real;\n\
         typedef unsigned long long u64;\n\
         __device__ unsigned lbm_nth_bit(unsigned mask, unsigned d)\n{{\n\
         \x20   for (unsigned b = 0; b < 32u; ++b) {{\n\
         \x20       if ((mask >> b) & 1u) {{ if (d == 0u) return b; --d; }}\n\
         \x20   }}\n\
         \x20   return 0u;\n}}\n\
         extern \"C\" __global__ void {PACK}(real* __restrict__ buf,\n\
         \x20   const real* __restrict__ state, u64 n, u64 first, u64 count, unsigned mask)\n{{\n\
         \x20   const u64 k = (u64)blockIdx.x * blockDim.x + threadIdx.x;\n\
         \x20   if (k >= count) return;\n\
         \x20   const unsigned i = lbm_nth_bit(mask, blockIdx.y);\n\
         \x20   buf[blockIdx.y * count + k] = state[i * n + first + k];\n}}\n\
         extern \"C\" __global__ void {UNPACK}(real* __restrict__ state,\n\
         \x20   const real* __restrict__ buf, u64 n, u64 first, u64 count, unsigned mask, int add)\n{{\n\
         \x20   const u64 k = (u64)blockIdx.x * blockDim.x + threadIdx.x;\n\
         \x20   if (k >= count) return;\n\
         \x20   const unsigned i = lbm_nth_bit(mask, blockIdx.y);\n\
         \x20   const real v = buf[blockIdx.y * count + k];\n\
         \x20   if (add) state[i * n + first + k] += v; else state[i * n + first + k] = v;\n}}\n\
         extern \"C\" __global__ void {ZERO}(real* __restrict__ state, u64 n, u64 first,\n\
         \x20   u64 count)\n{{\n\
         \x20   const u64 k = (u64)blockIdx.x * blockDim.x + threadIdx.x;\n\
         \x20   if (k < count) state[blockIdx.y * n + first + k] = (real)0;\n}}\n"
    )
}

/// What one part of a split keeps for exchanges: packed runs to send and received, and the
/// kernels that pack, unpack and zero layers.
pub(crate) struct HaloScratch<R> {
    pub(super) send: CudaSlice<R>,
    pub(super) recv: CudaSlice<R>,
    pub(super) pack: CudaFunction,
    pub(super) unpack: CudaFunction,
    pub(super) zero: CudaFunction,
}

impl<R: GpuReal> HaloScratch<R> {
    /// The kernels on `dev`, with empty buffers (grown by the first exchange).
    pub fn new(dev: &'static Device) -> Result<Self> {
        let m = module(dev, &pack_source(R::PRECISION.c_type()))?;
        let empty = || {
            dev.stream
                .alloc_zeros::<R>(1)
                .map_err(crate::cuda::driver::cuda_err("allocating a halo buffer"))
        };
        Ok(HaloScratch {
            send: empty()?,
            recv: empty()?,
            pack: function(&m, PACK)?,
            unpack: function(&m, UNPACK)?,
            zero: function(&m, ZERO)?,
        })
    }

    /// Makes the buffers hold at least `send` and `recv` values; whether it allocated
    /// (on `stream`, so the exchange stream must wait for it).
    pub(super) fn reserve(
        &mut self,
        stream: &Arc<CudaStream>,
        send: usize,
        recv: usize,
    ) -> Result<bool> {
        let grow = |buf: &mut CudaSlice<R>, len: usize| -> Result<bool> {
            if buf.len() >= len {
                return Ok(false);
            }
            *buf = stream
                .alloc_zeros::<R>(len)
                .map_err(crate::cuda::driver::cuda_err("allocating a halo buffer"))?;
            Ok(true)
        };
        let sends = grow(&mut self.send, send)?;
        Ok(grow(&mut self.recv, recv)? || sends)
    }

    /// Sets `cells` of every direction of `state` (an adjoint state, or a state kept in
    /// its computing type, of `n` cells and `q` directions) to zero, in one launch on
    /// `stream`.
    pub fn zero_cells(
        &self,
        stream: &CudaStream,
        state: &CudaSlice<R>,
        (n, q): (usize, usize),
        cells: Range<usize>,
    ) -> Result<()> {
        let (n, first, count) = (n as u64, cells.start as u64, cells.len() as u64);
        let mut b = stream.launch_builder(&self.zero);
        b.arg(state).arg(&n).arg(&first).arg(&count);
        let mut config = launch_config(cells.len());
        config.grid_dim.1 = q as u32;
        // SAFETY: the arguments match `lbm_k_zero_layers`; `state` holds `Q * n` values
        // and `cells` lies within `0..n`.
        unsafe { b.launch(config) }
            .map_err(crate::cuda::driver::cuda_err("zeroing halo layers"))?;
        Ok(())
    }
}

/// A part's exchange stream and the events that order it against the part's own stream:
/// exchanges run on their own stream, so they can overlap the part's kernels.
pub(crate) struct PartSync {
    /// The stream NCCL and the packing kernels run on.
    pub comm_stream: Arc<CudaStream>,
    /// Recorded on the part's stream when the layers to send are written.
    ready: CudaEvent,
    /// Whether `ready` was recorded since the last exchange (by the forward, which
    /// records it before it steps the layers no halo needs).
    ready_marked: Cell<bool>,
    /// Recorded on the exchange stream when the exchange is done.
    exchanged: CudaEvent,
}

impl PartSync {
    /// An exchange stream and its events on `dev`.
    pub fn new(dev: &'static Device) -> Result<Self> {
        let err = crate::cuda::driver::cuda_err;
        let event = || {
            dev.ctx
                .new_event(Some(CUevent_flags::CU_EVENT_DISABLE_TIMING))
                .map_err(err("creating an event"))
        };
        // The exchange stream gets the highest priority, so that the block scheduler runs
        // its packing and NCCL blocks as soon as they are ready rather than behind the
        // waves of the step they overlap.
        dev.ctx
            .bind_to_thread()
            .map_err(err("binding the CUDA context"))?;
        let (_, highest) = cudarc::driver::result::stream::get_priority_range()
            .map_err(err("reading stream priorities"))?;
        Ok(PartSync {
            comm_stream: dev
                .ctx
                .new_stream_with_priority(highest)
                .map_err(err("creating a stream"))?,
            ready: event()?,
            ready_marked: Cell::new(false),
            exchanged: event()?,
        })
    }

    /// Marks the layers to send as written by what `stream` has queued so far.
    pub fn mark_ready(&self, stream: &CudaStream) -> Result<()> {
        self.record_ready(stream)?;
        self.ready_marked.set(true);
        Ok(())
    }

    fn record_ready(&self, stream: &CudaStream) -> Result<()> {
        self.ready
            .record(stream)
            .map_err(crate::cuda::driver::cuda_err("recording an event"))
    }

    /// Makes the next exchange wait for everything queued on the part's stream, not only
    /// for the layers marked ready.
    pub(super) fn forget_ready(&self) {
        self.ready_marked.set(false);
    }

    /// Makes the exchange stream wait for the layers to send: those marked ready, or
    /// everything queued on `stream`.
    pub(super) fn wait_ready(&self, stream: &CudaStream) -> Result<()> {
        if !self.ready_marked.replace(false) {
            self.record_ready(stream)?;
        }
        self.comm_stream
            .wait(&self.ready)
            .map_err(crate::cuda::driver::cuda_err("ordering an exchange"))
    }

    /// Makes `stream` wait for the exchange queued so far.
    pub(super) fn join(&self, stream: &CudaStream) -> Result<()> {
        let err = crate::cuda::driver::cuda_err("ordering an exchange");
        self.exchanged.record(&self.comm_stream).map_err(&err)?;
        stream.wait(&self.exchanged).map_err(err)
    }
}

/// The error of an engine asked for what only a part of a split has.
pub(super) fn not_a_part() -> LbmError {
    LbmError::Cuda("an engine that is no part of a split was asked to exchange halos".into())
}
