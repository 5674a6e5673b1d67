//! `cargo xtask bounds`: the register bounds the CUDA backend would choose for a library
//! operator's step kernels on a GPU architecture, with what every candidate bound uses,
//! worked out with NVRTC alone (`lbm_runtime::cuda::bounds`). A change to the generated
//! kernels or to the rule of `cuda::tune` can be read here before a GPU times it.

use std::fmt::Write as _;

use lbm_runtime::cuda::bounds::{predicted_bounds, KernelBounds};
use lbm_runtime::cuda::StateFormat;
use lbm_runtime::{LatticeKind, OperatorInfo, Precision, Storage, Streaming};

use crate::{any_binding, find_op, grid_of, parse_dims, Dims, Failure};

/// Arguments of `cargo xtask bounds`.
#[derive(clap::Args)]
pub(crate) struct BoundsArgs {
    /// The operator's name, as in `cargo xtask codegen --list`.
    name: String,
    /// Lattice: d2q9, d3q19 or d3q27.
    #[arg(long, default_value = "d3q19")]
    lattice: LatticeKind,
    /// The grid, `NXxNY` on D2Q9 and `NXxNYxNZ` on D3Q19 and D3Q27.
    #[arg(long, value_parser = parse_dims)]
    grid: Dims,
    /// Precision the step computes in: f32 or f64.
    #[arg(long, default_value = "f32")]
    precision: Precision,
    /// How populations are stored: compute, f16 or bf16.
    #[arg(long, default_value = "compute")]
    storage: Storage,
    /// How they are streamed: two-states or in-place.
    #[arg(long, default_value = "two-states")]
    streaming: Streaming,
    /// The GPU architecture, `90` for `sm_90` (H100, H200).
    #[arg(long, default_value_t = 90)]
    arch: u32,
}

/// The table `cargo xtask bounds` prints for `args`, with `ops` as the library.
pub(crate) fn bounds(args: &BoundsArgs, ops: &[&'static OperatorInfo]) -> Result<String, Failure> {
    let op = find_op(ops, &args.name)?;
    let grid = grid_of(args.lattice, &args.grid.0)?;
    let format = StateFormat {
        precision: args.precision,
        storage: args.storage,
        streaming: args.streaming,
    };
    let kernels = predicted_bounds(&any_binding(op, &grid), &grid, format, args.arch)
        .map_err(|e| Failure::new(1, e.to_string()))?;
    let mut out = format!(
        "{} on {} {}, {} storage, {}, sm_{}\n",
        op.name,
        args.lattice,
        args.grid
            .0
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join("x"),
        args.storage.name(),
        args.streaming.name(),
        args.arch
    );
    for kernel in &kernels {
        out.push_str(&table(kernel));
    }
    Ok(out)
}

/// One kernel's candidates, the chosen one marked.
fn table(k: &KernelBounds) -> String {
    let mut out = format!(
        "\n{} ({:?}): the engine compiles it for {}\n\
         blocks  cap  registers  stack B  spill stores B  spill loads B\n",
        k.kernel,
        k.role,
        match k.chosen {
            1 => "no bound".to_string(),
            m => format!("{m} blocks"),
        }
    );
    for c in &k.candidates {
        let r = &c.resources;
        let _ = writeln!(
            out,
            "{:>6}{:>5}{:>11}{:>9}{:>16}{:>15}{}",
            c.min_blocks,
            c.cap,
            r.registers,
            r.stack_bytes,
            r.spill_store_bytes,
            r.spill_load_bytes,
            if c.min_blocks == k.chosen {
                "  <- chosen"
            } else {
                ""
            }
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Cli;
    use clap::Parser;

    fn parsed(line: &[&str]) -> BoundsArgs {
        match Cli::try_parse_from(line).map(|c| c.task) {
            Ok(crate::Task::Bounds(args)) => args,
            _ => panic!("{line:?} does not parse as `bounds`"),
        }
    }

    #[test]
    fn arguments_parse_with_defaults_for_the_speed_case() {
        let a = parsed(&["xtask", "bounds", "bgk", "--grid", "64x64x64"]);
        assert_eq!(a.lattice, LatticeKind::D3Q19);
        assert_eq!(a.precision, Precision::F32);
        assert_eq!(
            (a.storage, a.streaming),
            (Storage::Compute, Streaming::TwoStates)
        );
        assert_eq!(a.arch, 90);
        let a = parsed(&[
            "xtask",
            "bounds",
            "bgk",
            "--grid",
            "64x64",
            "--lattice",
            "d2q9",
            "--storage",
            "bf16",
            "--streaming",
            "in-place",
        ]);
        assert_eq!(
            (a.storage, a.streaming),
            (Storage::BF16, Streaming::InPlace)
        );
        assert!(
            Cli::try_parse_from(["xtask", "bounds", "bgk"]).is_err(),
            "--grid is needed"
        );
    }

    #[test]
    fn each_kernel_gets_one_chosen_bound() {
        if !lbm_runtime::nvrtc::nvrtc_for_test("each_kernel_gets_one_chosen_bound") {
            return;
        }
        let a = parsed(&["xtask", "bounds", "bgk", "--grid", "32x24x16"]);
        let text = bounds(&a, lbm_runtime::ops::ALL).ok().unwrap();
        assert!(text.starts_with("bgk on d3q19 32x24x16, compute storage, two-states, sm_90"));
        assert_eq!(text.matches("<- chosen").count(), 2, "{text}");
        assert!(text.contains("\nforward (Forward)") && text.contains("\nadjoint (Adjoint)"));
        // An adjoint table has a row for each of 1 to 6 blocks.
        let adjoint = text.split("\nadjoint").nth(1).unwrap();
        assert_eq!(adjoint.lines().count(), 2 + 6, "{adjoint}");
        let wrong = parsed(&["xtask", "bounds", "no_such_op", "--grid", "8x8x8"]);
        assert_eq!(bounds(&wrong, lbm_runtime::ops::ALL).err().unwrap().code, 2);
    }
}
