//! Halo layers between the GPUs of a split domain, through NCCL: one group of sends and
//! receives per exchange (NCCL's rule when one thread drives several devices), on each
//! device's one stream, so an exchange is ordered after the kernels that wrote the layers
//! and before those that read them, without a host synchronisation.
//!
//! States are structures of arrays, so the directions a move carries are as many
//! segments: a small kernel packs them into one contiguous run on the sender, NCCL moves
//! that run, and another unpacks it on the receiver (writing it, or adding it for the
//! adjoint's return of halo adjoints). One send and one receive per move keeps NCCL's
//! per-operation cost out of the step.

use std::cell::Cell;
use std::sync::{Arc, Mutex};

use cudarc::driver::sys::CUevent_flags;
use cudarc::driver::{CudaEvent, CudaFunction, CudaSlice, CudaStream, PushKernelArg};
use cudarc::nccl::result::{group_end, group_start, NcclError};

use super::buffers::{function, launch_config, GpuReal};
use super::cache::module;
use super::driver::Device;
use super::engine::Engine;
use super::stored::GpuStore;
use crate::backend::split::{LayerMove, MoveMode};
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

/// Held while an exchange posts its NCCL group (see [`exchange`]).
static EXCHANGES: Mutex<()> = Mutex::new(());

/// An NCCL failure, saying what was being done.
fn nccl_err(what: &'static str) -> impl Fn(NcclError) -> LbmError {
    move |e| LbmError::Cuda(format!("{what} through NCCL: {e:?}"))
}

fn no_comm(p: usize) -> LbmError {
    LbmError::Cuda(format!("part {p} of a split has no NCCL communicator"))
}

/// What one part of a split keeps for exchanges: packed runs to send and received, and the
/// kernels that pack, unpack and zero layers.
pub(crate) struct HaloScratch<R> {
    send: CudaSlice<R>,
    recv: CudaSlice<R>,
    pack: CudaFunction,
    unpack: CudaFunction,
    zero: CudaFunction,
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
    fn reserve(&mut self, stream: &Arc<CudaStream>, send: usize, recv: usize) -> Result<bool> {
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
    fn forget_ready(&self) {
        self.ready_marked.set(false);
    }

    /// Makes the exchange stream wait for the layers to send: those marked ready, or
    /// everything queued on `stream`.
    fn wait_ready(&self, stream: &CudaStream) -> Result<()> {
        if !self.ready_marked.replace(false) {
            self.record_ready(stream)?;
        }
        self.comm_stream
            .wait(&self.ready)
            .map_err(crate::cuda::driver::cuda_err("ordering an exchange"))
    }

    /// Makes `stream` wait for the exchange queued so far.
    fn join(&self, stream: &CudaStream) -> Result<()> {
        let err = crate::cuda::driver::cuda_err("ordering an exchange");
        self.exchanged.record(&self.comm_stream).map_err(&err)?;
        stream.wait(&self.exchanged).map_err(err)
    }
}

/// A part's exchange stream and events.
fn sync<R: GpuReal>(part: &Engine<R>) -> Result<&PartSync> {
    part.sync.as_ref().ok_or_else(not_a_part)
}

/// The bit mask of `directions` (at most 32).
fn mask_of(directions: &[usize]) -> u32 {
    directions.iter().fold(0u32, |m, &i| m | (1 << i))
}

/// Which end of a move a packing kernel runs at.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    /// Packs the sent layers into the send buffer.
    Sender,
    /// Unpacks the received run into the layers, written or added.
    Receiver(MoveMode),
}

/// Launches the packing kernel of move `m` at `end`, on that part's exchange stream; the
/// move's run lies at `at` of the part's send or receive buffer.
fn launch_packing<R: GpuReal>(
    parts: &[Engine<R>],
    states: &[CudaSlice<R>],
    m: &LayerMove,
    end: End,
    at: usize,
    layer_cells: usize,
) -> Result<()> {
    let (p, layer) = match end {
        End::Sender => m.from,
        End::Receiver(_) => m.to,
    };
    let (part, state) = (&parts[p], &states[p]);
    let halo = scratch(part)?;
    let count = m.layers * layer_cells;
    let len = count * m.directions.len();
    let (kernel, buf) = match end {
        End::Sender => (&halo.pack, halo.send.slice(at..at + len)),
        End::Receiver(_) => (&halo.unpack, halo.recv.slice(at..at + len)),
    };
    let (n, first, count64) = (
        part.cells() as u64,
        (layer * layer_cells) as u64,
        count as u64,
    );
    let mask = mask_of(&m.directions);
    let mut b = sync(part)?.comm_stream.launch_builder(kernel);
    match end {
        End::Sender => b.arg(&buf).arg(state),
        End::Receiver(_) => b.arg(state).arg(&buf),
    };
    b.arg(&n).arg(&first).arg(&count64).arg(&mask);
    let add = i32::from(end == End::Receiver(MoveMode::Add));
    if end != End::Sender {
        b.arg(&add);
    }
    let mut config = launch_config(count);
    config.grid_dim.1 = m.directions.len() as u32;
    // SAFETY: the arguments match the kernel's; `state` holds `Q * n` values with
    // `first + count <= n` and every set bit of `mask` below `Q`; `buf` holds one run of
    // `count` per direction.
    unsafe { b.launch(config) }.map_err(crate::cuda::driver::cuda_err("launching a halo copy"))?;
    Ok(())
}

/// Moves layers between the parts' states: see [`crate::backend::split::PartEngine`].
pub(crate) fn exchange<R: GpuReal>(
    parts: &mut [Engine<R>],
    states: &mut [CudaSlice<R>],
    layer_cells: usize,
    moves: &[LayerMove],
    mode: MoveMode,
) -> Result<()> {
    // Where each move's run lies in its sender's and its receiver's buffers.
    let (mut sent, mut received) = (vec![0usize; parts.len()], vec![0usize; parts.len()]);
    let mut at = Vec::with_capacity(moves.len());
    for m in moves {
        let len = m.directions.len() * m.layers * layer_cells;
        at.push((sent[m.from.0], received[m.to.0], len));
        sent[m.from.0] += len;
        received[m.to.0] += len;
    }
    for (p, part) in parts.iter_mut().enumerate() {
        let stream = part.stream().clone();
        if scratch_mut(part)?.reserve(&stream, sent[p], received[p])? {
            // New buffers are allocated and zeroed on the part's stream after the forward
            // marked its layers ready: the exchange must wait for all of it this once.
            sync(part)?.forget_ready();
        }
    }
    for part in parts.iter() {
        sync(part)?.wait_ready(part.stream())?;
    }
    for (m, &(s, _, _)) in moves.iter().zip(&at) {
        launch_packing(parts, states, m, End::Sender, s, layer_cells)?;
    }
    {
        // Were two split simulations on the same GPUs to post their groups from two
        // threads at once, the devices could take them in different orders and each wait
        // on the other's. One group at a time keeps the order the same on every device.
        let _one_at_a_time = EXCHANGES.lock().unwrap_or_else(|p| p.into_inner());
        group_start().map_err(nccl_err("starting a halo exchange"))?;
        let posted = post(parts, moves, &at);
        // The group is closed even when posting failed, or NCCL would stay in group mode.
        let ended = group_end().map_err(nccl_err("exchanging halos"));
        posted?;
        ended?;
    }
    for (m, &(_, r, _)) in moves.iter().zip(&at) {
        launch_packing(parts, states, m, End::Receiver(mode), r, layer_cells)?;
    }
    for part in parts.iter() {
        sync(part)?.join(part.stream())?;
    }
    Ok(())
}

/// Posts the send and the receive of every move's packed run (inside an NCCL group).
fn post<R: GpuReal>(
    parts: &mut [Engine<R>],
    moves: &[LayerMove],
    at: &[(usize, usize, usize)],
) -> Result<()> {
    for (m, &(s, r, len)) in moves.iter().zip(at) {
        let (from, to) = (m.from.0, m.to.0);
        {
            let part = &parts[from];
            let comm = &part.comm.as_ref().ok_or_else(|| no_comm(from))?.0;
            let halo = scratch(part)?;
            comm.send(&halo.send.slice(s..s + len), to as i32)
                .map_err(nccl_err("sending a halo"))?;
        }
        let part = &mut parts[to];
        let comm = &part.comm.as_ref().ok_or_else(|| no_comm(to))?.0;
        let halo = part.halo.as_mut().ok_or_else(not_a_part)?;
        comm.recv(&mut halo.recv.slice_mut(r..r + len), from as i32)
            .map_err(nccl_err("receiving a halo"))?;
    }
    Ok(())
}

/// A part's halo kernels and buffers.
fn scratch<R: GpuReal, S: GpuStore>(part: &Engine<R, S>) -> Result<&HaloScratch<R>> {
    part.halo.as_ref().ok_or_else(not_a_part)
}

fn scratch_mut<R: GpuReal>(part: &mut Engine<R>) -> Result<&mut HaloScratch<R>> {
    part.halo.as_mut().ok_or_else(not_a_part)
}

fn not_a_part() -> LbmError {
    LbmError::Cuda("an engine that is no part of a split was asked to exchange halos".into())
}

/// Sets `cells` of every direction of `state` (an adjoint state, or a state kept in its
/// computing type) to zero, in one launch.
pub(crate) fn zero_cells<R: GpuReal, S: GpuStore>(
    part: &Engine<R, S>,
    state: &CudaSlice<R>,
    cells: std::ops::Range<usize>,
) -> Result<()> {
    let halo = scratch(part)?;
    let (n, first, count) = (part.cells() as u64, cells.start as u64, cells.len() as u64);
    let mut b = part.stream().launch_builder(&halo.zero);
    b.arg(state).arg(&n).arg(&first).arg(&count);
    let mut config = launch_config(cells.len());
    config.grid_dim.1 = part.q() as u32;
    // SAFETY: the arguments match `lbm_k_zero_layers`; `state` holds `Q * n` values and
    // `cells` lies within `0..n`.
    unsafe { b.launch(config) }.map_err(crate::cuda::driver::cuda_err("zeroing halo layers"))?;
    Ok(())
}
