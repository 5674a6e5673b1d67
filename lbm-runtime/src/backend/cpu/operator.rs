//! One bound operator on the CPU: gathering its inputs from a cell-major state, its
//! forward over every cell, and the two passes of its adjoint.
//!
//! The adjoint runs in two passes: every cell computes the adjoints of all its inputs
//! (pass A), then every population slot gathers what its readers sent it (pass B):
//! streaming is a permutation, so each slot has a fixed set of readers and no write is
//! shared. Sums over cells use a fixed chunking, so results do not depend on thread
//! scheduling.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use crate::backend::divergence_code;
use crate::bind::{Bound, Source};
use crate::error::Result;
use crate::gradients::{GradValue, ParamAccumulator};
use crate::grid::Grid;
use crate::memory::try_filled;
use crate::operator::{CpuForms, FlatForms};
use crate::real::Real;

/// Cells per chunk of a deterministic parallel sum.
pub(crate) const CHUNK: usize = 1024;

/// A real type with flat CPU forms.
pub trait CpuReal: Real + bytemuck::Pod {
    /// The forms of an operator for this type.
    fn forms(cpu: &CpuForms, lattice: crate::LatticeKind) -> &FlatForms<Self>;
}

impl CpuReal for f32 {
    fn forms(cpu: &CpuForms, lattice: crate::LatticeKind) -> &FlatForms<f32> {
        cpu.f32(lattice)
    }
}

impl CpuReal for f64 {
    fn forms(cpu: &CpuForms, lattice: crate::LatticeKind) -> &FlatForms<f64> {
        cpu.f64(lattice)
    }
}

/// Precomputed neighbour tables of a grid.
pub(crate) struct Topology {
    grid: Grid,
    pub q: usize,
    pub cells: usize,
    /// `[cell * Q + i]`: the cell direction `i` streams from.
    pub upstream: Vec<u32>,
    /// `[cell * Q + i]`: the cell direction `i` streams to.
    pub downstream: Vec<u32>,
    pub opp: Vec<usize>,
    pub links: Vec<i64>,
    /// The cells this engine updates: all of them, or a part's own cells when the grid is
    /// a slab of a split domain whose other cells are halo (see `backend::split`). Cells
    /// outside it are neither stepped nor differentiated, nor counted in an objective.
    pub interior: Range<usize>,
}

impl Topology {
    /// `table[cell]` = the cell at `cell + offset`, periodic.
    fn shifted(&self, offset: [i32; 3]) -> Vec<u32> {
        (0..self.cells)
            .map(|c| self.grid.offset(c, offset) as u32)
            .collect()
    }
}

impl Topology {
    pub fn new(grid: &Grid) -> Result<Self> {
        let (q, cells) = (grid.lattice().q(), grid.cells());
        let mut upstream: Vec<u32> = try_filled("the upstream table of the grid", q * cells)?;
        let mut downstream: Vec<u32> = try_filled("the downstream table of the grid", q * cells)?;
        for cell in 0..cells {
            for i in 0..q {
                upstream[cell * q + i] = grid.upstream(cell, i) as u32;
                downstream[cell * q + i] = grid.downstream(cell, i) as u32;
            }
        }
        Ok(Topology {
            grid: grid.clone(),
            q,
            cells,
            upstream,
            downstream,
            opp: (0..q).map(|i| grid.lattice().opp(i)).collect(),
            links: (0..cells).map(|c| grid.links(c)).collect(),
            interior: 0..cells,
        })
    }
}

/// An operator prepared to run on the CPU: its sources with their flat offsets.
pub(crate) struct CpuOperator<R: CpuReal> {
    pub bound: Bound,
    lattice: crate::LatticeKind,
    forms: &'static FlatForms<R>,
    offsets: Vec<Option<usize>>,
    lens: Vec<usize>,
    pub reals_len: usize,
    ints_len: usize,
    pub outputs_len: usize,
    /// For each `Neighbor` source: the neighbour of every cell, and the reverse map.
    neighbors: Vec<Option<(Vec<u32>, Vec<u32>)>>,
    /// The `f32` forward form, when this operator computes its forward in `f32` on wider
    /// storage (an `f32` simulation with an `f64` adjoint).
    forward_f32: Option<&'static FlatForms<f32>>,
}

impl<R: CpuReal> CpuOperator<R> {
    pub fn new(bound: &Bound, grid: &Grid, topo: &Topology) -> Self {
        let op = bound.op;
        let lattice = grid.lattice();
        let neighbors = bound
            .sources
            .iter()
            .map(|s| match s {
                Source::Neighbor(o) => {
                    Some((topo.shifted(*o), topo.shifted([-o[0], -o[1], -o[2]])))
                }
                _ => None,
            })
            .collect();
        CpuOperator {
            lattice,
            neighbors,
            bound: bound.clone(),
            forms: R::forms(&op.cpu, lattice),
            offsets: bound.real_offsets(grid),
            lens: op.params.iter().map(|p| p.shape.len(lattice)).collect(),
            reals_len: op.real_inputs_len(lattice),
            ints_len: op.int_inputs_len(),
            outputs_len: op.outputs_len(lattice),
            forward_f32: None,
        }
    }

    /// Computes the forward in `f32` (see [`CpuOperator::forward_f32`]).
    pub fn with_f32_forward(mut self) -> Self {
        let op = self.bound.op;
        self.forward_f32 = Some(<f32 as CpuReal>::forms(&op.cpu, self.lattice));
        self
    }

    /// Fills the flat inputs of `cell` at step `t` from the state `f`.
    fn gather(
        &self,
        topo: &Topology,
        t: usize,
        cell: usize,
        f: &[R],
        reals: &mut [R],
        ints: &mut [i64],
    ) {
        let q = topo.q;
        let mut int_at = 0;
        for (k, source) in self.bound.sources.iter().enumerate() {
            let len = self.lens[k];
            let Some(o) = self.offsets[k] else {
                ints[int_at] = match source {
                    Source::Links => topo.links[cell],
                    Source::Int(v) => *v,
                    Source::IntField(v) => v[cell],
                    _ => unreachable!("binding checks integer sources"),
                };
                int_at += 1;
                continue;
            };
            let dst = &mut reals[o..o + len];
            match source {
                Source::Pulled => {
                    for (i, d) in dst.iter_mut().enumerate() {
                        *d = f[topo.upstream[cell * q + i] as usize * q + i];
                    }
                }
                Source::Local => dst.copy_from_slice(&f[cell * q..cell * q + q]),
                Source::Neighbor(_) => {
                    let (to, _) = self.neighbors[k]
                        .as_ref()
                        .expect("tables for every neighbour source");
                    let nb = to[cell] as usize;
                    dst.copy_from_slice(&f[nb * q..nb * q + q]);
                }
                Source::Far => {
                    for (i, d) in dst.iter_mut().enumerate() {
                        *d = f[topo.downstream[cell * q + i] as usize * q + topo.opp[i]];
                    }
                }
                Source::Uniform(v) => dst
                    .iter_mut()
                    .zip(v)
                    .for_each(|(d, v)| *d = R::from_f64(*v)),
                Source::PerStep(v) => dst
                    .iter_mut()
                    .zip(&v[t])
                    .for_each(|(d, v)| *d = R::from_f64(*v)),
                Source::Field(v) => dst
                    .iter_mut()
                    .zip(&v[cell * len..cell * len + len])
                    .for_each(|(d, v)| *d = R::from_f64(*v)),
                _ => unreachable!("binding checks real sources"),
            }
        }
        debug_assert_eq!(int_at, self.ints_len);
    }

    /// Runs the forward form on every interior cell; `out` gets `outputs_len` values per
    /// cell (those of other cells are left as they were).
    pub fn forward_all(&self, topo: &Topology, t: usize, f: &[R], out: &mut [R]) {
        self.forward_recording(topo, t, f, out, None);
    }

    /// [`Self::forward_all`], also recording in `record` the first non-finite output as
    /// `(t + 1) << 32 | cell` (the minimum over cells, so the first in cell order).
    pub fn forward_recording(
        &self,
        topo: &Topology,
        t: usize,
        f: &[R],
        out: &mut [R],
        record: Option<&AtomicU64>,
    ) {
        let flag = |cell: usize, out: &[R]| {
            if let Some(record) = record {
                if out.iter().any(|v| !v.is_finite()) {
                    record.fetch_min(divergence_code(t, cell), Ordering::Relaxed);
                }
            }
        };
        match self.forward_f32 {
            None => out
                .par_chunks_mut(self.outputs_len)
                .enumerate()
                .for_each_init(
                    || {
                        (
                            vec![R::default(); self.reals_len],
                            vec![0i64; self.ints_len],
                        )
                    },
                    |(reals, ints), (cell, out)| {
                        if !topo.interior.contains(&cell) {
                            return;
                        }
                        self.gather(topo, t, cell, f, reals, ints);
                        (self.forms.forward)(reals, ints, out);
                        flag(cell, out);
                    },
                ),
            // The storage holds `f32` values in a wider type: round the inputs, compute in
            // `f32`, widen the results, so every state is the `f32` run's bit for bit.
            Some(forms) => out
                .par_chunks_mut(self.outputs_len)
                .enumerate()
                .for_each_init(
                    || {
                        (
                            vec![R::default(); self.reals_len],
                            vec![0i64; self.ints_len],
                            vec![0f32; self.reals_len],
                            vec![0f32; self.outputs_len],
                        )
                    },
                    |(reals, ints, narrow, narrow_out), (cell, out)| {
                        if !topo.interior.contains(&cell) {
                            return;
                        }
                        self.gather(topo, t, cell, f, reals, ints);
                        narrow
                            .iter_mut()
                            .zip(reals.iter())
                            .for_each(|(n, r)| *n = r.to_f64() as f32);
                        (forms.forward)(narrow, ints, narrow_out);
                        out.iter_mut()
                            .zip(narrow_out.iter())
                            .for_each(|(o, n)| *o = R::from_f64(f64::from(*n)));
                        flag(cell, out);
                    },
                ),
        }
    }

    /// Pass A of the adjoint: every interior cell's input adjoints, `[cell * reals_len + k]`
    /// (zero for the other cells, which send nothing in pass B).
    pub fn adjoint_all(
        &self,
        topo: &Topology,
        t: usize,
        f: &[R],
        out_bar: &(dyn Fn(usize, &mut [R]) + Sync),
        bars: &mut [R],
    ) {
        bars.par_chunks_mut(self.reals_len.max(1))
            .enumerate()
            .for_each_init(
                || {
                    (
                        vec![R::default(); self.reals_len],
                        vec![0i64; self.ints_len],
                        vec![R::default(); self.outputs_len],
                    )
                },
                |(reals, ints, ob), (cell, bar)| {
                    bar.iter_mut().for_each(|b| *b = R::default());
                    if !topo.interior.contains(&cell) {
                        return;
                    }
                    self.gather(topo, t, cell, f, reals, ints);
                    out_bar(cell, ob);
                    (self.forms.adjoint)(reals, ints, ob, bar);
                },
            );
    }

    /// Pass B: adds into `lambda` (cell-major) what every population reader sent each slot.
    pub fn scatter_populations(&self, topo: &Topology, bars: &[R], lambda: &mut [R]) {
        let (q, n) = (topo.q, self.reals_len);
        let reads: Vec<(usize, usize, &Source)> = self
            .bound
            .sources
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_population())
            .map(|(k, s)| (k, self.offsets[k].expect("populations are real"), s))
            .collect();
        lambda.par_chunks_mut(q).enumerate().for_each(|(y, lam)| {
            for (j, l) in lam.iter_mut().enumerate() {
                let reader = topo.downstream[y * q + j] as usize;
                for &(k, o, s) in &reads {
                    *l += match s {
                        // Cell y + c_j pulled this slot as its f[j].
                        Source::Pulled => bars[reader * n + o + j],
                        Source::Local => bars[y * n + o + j],
                        // Cell y + c_j read it as its f_far[OPP[j]].
                        Source::Far => bars[reader * n + o + topo.opp[j]],
                        // Cell y - offset read this cell's populations.
                        Source::Neighbor(_) => {
                            let (_, from) = self.neighbors[k]
                                .as_ref()
                                .expect("tables for every neighbour source");
                            bars[from[y] as usize * n + o + j]
                        }
                        _ => unreachable!(),
                    };
                }
            }
        });
    }

    /// Adds the parameter adjoints of pass A to the accumulators.
    pub fn accumulate_params(&self, t: usize, bars: &[R], acc: &mut ParamAccumulator) {
        let n = self.reals_len;
        for (k, _, value) in &mut acc.entries {
            let (o, len) = (self.offsets[*k].expect("real parameter"), self.lens[*k]);
            match value {
                GradValue::Field(g) => {
                    g.par_chunks_mut(len).enumerate().for_each(|(cell, g)| {
                        for (a, gk) in g.iter_mut().enumerate() {
                            *gk += bars[cell * n + o + a].to_f64();
                        }
                    });
                }
                GradValue::Uniform(g) => add(g, &sum_over_cells(bars, n, o, len)),
                GradValue::PerStep(g) => add(&mut g[t], &sum_over_cells(bars, n, o, len)),
            }
        }
    }
}

fn add(into: &mut [f64], v: &[f64]) {
    into.iter_mut().zip(v).for_each(|(a, b)| *a += b);
}

/// Sum over cells of `bars[cell * stride + offset + k]`, in a fixed order.
fn sum_over_cells<R: Real>(bars: &[R], stride: usize, offset: usize, len: usize) -> Vec<f64> {
    let partials: Vec<Vec<f64>> = bars
        .par_chunks(stride * CHUNK)
        .map(|chunk| {
            let mut s = vec![0.0; len];
            for cell in chunk.chunks(stride) {
                for (k, sk) in s.iter_mut().enumerate() {
                    *sk += cell[offset + k].to_f64();
                }
            }
            s
        })
        .collect();
    let mut total = vec![0.0; len];
    for p in &partials {
        add(&mut total, p);
    }
    total
}
