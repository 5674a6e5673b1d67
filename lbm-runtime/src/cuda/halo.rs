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

use std::sync::Mutex;

use cudarc::driver::{CudaSlice, PushKernelArg};
use cudarc::nccl::result::{group_end, group_start, NcclError};

use super::buffers::{launch_config, GpuReal};
use super::engine::Engine;
use super::halo_parts::{not_a_part, HaloScratch, PartSync};
use crate::backend::split::{LayerMove, MoveMode};
use crate::error::{LbmError, Result};

/// Held while an exchange posts its NCCL group (see [`exchange`]).
static EXCHANGES: Mutex<()> = Mutex::new(());

/// An NCCL failure, saying what was being done.
fn nccl_err(what: &'static str) -> impl Fn(NcclError) -> LbmError {
    move |e| LbmError::Cuda(format!("{what} through NCCL: {e:?}"))
}

fn no_comm(p: usize) -> LbmError {
    LbmError::Cuda(format!("part {p} of a split has no NCCL communicator"))
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
    let halo = part.halo_scratch()?;
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
            let halo = part.halo_scratch()?;
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

fn scratch_mut<R: GpuReal>(part: &mut Engine<R>) -> Result<&mut HaloScratch<R>> {
    part.halo.as_mut().ok_or_else(not_a_part)
}
