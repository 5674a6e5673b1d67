//! The resources ptxas gives each kernel of a module (registers, stack, spills), read
//! from its verbose report: what a kernel would use on a GPU, known without one. The
//! CUDA backend's register caps (`cuda::tune`) are decided from the same figures, which
//! the driver reports for a loaded kernel.

use super::program::{compile_program, Output};
use super::NvrtcError;

/// What one kernel of a module uses per thread, as ptxas reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelResources {
    /// The kernel's (unmangled, `extern "C"`) name.
    pub name: String,
    /// Registers per thread.
    pub registers: u32,
    /// Stack frame per thread in bytes: the local memory the driver reports for the
    /// kernel, spills included.
    pub stack_bytes: u32,
    /// Bytes stored to local memory by spills, per thread.
    pub spill_store_bytes: u32,
    /// Bytes loaded from local memory by spills, per thread.
    pub spill_load_bytes: u32,
}

/// Compiles `source` for the real architecture `sm_{arch}` (as `90` for `sm_90`), as the
/// CUDA backend does for a device of that architecture, and returns the resources of each
/// kernel in it, in the order ptxas compiled them.
pub fn kernel_resources(source: &str, arch: u32) -> Result<Vec<KernelResources>, NvrtcError> {
    let options = [
        format!("--gpu-architecture=sm_{arch}"),
        "--ptxas-options=-v".to_string(),
    ];
    let compiled = compile_program(source, &options, Output::Cubin)?;
    let kernels = parse_ptxas_report(&compiled.log);
    if kernels.is_empty() && source.contains("__global__") {
        return Err(NvrtcError::Api(format!(
            "ptxas reported no kernel resources for sm_{arch}; its log was:\n{}",
            compiled.log
        )));
    }
    Ok(kernels)
}

/// The kernels of a `ptxas -v` report. Each starts at `Compiling entry function 'NAME'`;
/// its `... bytes stack frame, ... bytes spill stores, ... bytes spill loads` and
/// `Used N registers` lines follow. Device functions compiled on their own (`Function
/// properties` without an entry) are not kernels and are skipped.
fn parse_ptxas_report(log: &str) -> Vec<KernelResources> {
    let mut kernels: Vec<KernelResources> = Vec::new();
    // Whether the lines read now describe the last kernel (and not a device function).
    let mut describes_kernel = false;
    for line in log.lines() {
        if let Some(name) = quoted_after(line, "Compiling entry function '") {
            kernels.push(KernelResources {
                name: name.to_string(),
                ..KernelResources::default()
            });
            describes_kernel = true;
            continue;
        }
        if let Some(rest) = line.split("Function properties for ").nth(1) {
            describes_kernel = kernels.last().is_some_and(|k| k.name == rest.trim());
            continue;
        }
        let Some(kernel) = kernels.last_mut().filter(|_| describes_kernel) else {
            continue;
        };
        if line.contains("bytes stack frame") {
            for part in line.split(',') {
                let bytes = number_before(part, " bytes");
                if part.contains("stack frame") {
                    kernel.stack_bytes = bytes;
                } else if part.contains("spill stores") {
                    kernel.spill_store_bytes = bytes;
                } else if part.contains("spill loads") {
                    kernel.spill_load_bytes = bytes;
                }
            }
        } else if let Some(after) = line.split("Used ").nth(1) {
            kernel.registers = number_before(after, " registers");
        }
    }
    kernels
}

/// The text between `prefix` and the next `'` in `line`, if `line` holds `prefix`.
fn quoted_after<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = line.split(prefix).nth(1)?;
    rest.split('\'').next()
}

/// The number that ends just before `unit` in `text` (0 when there is none).
fn number_before(text: &str, unit: &str) -> u32 {
    let head = text.split(unit).next().unwrap_or_default();
    let digits: String = head
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The report of NVRTC 13.0 for a module with two kernels (trimmed), the second with
    /// spills.
    const REPORT: &str = "\
m.cu(544): warning #177-D: function \"lbm_cp_async\" was declared but never referenced
ptxas info    : 380 bytes gmem
ptxas info    : Compiling entry function 'lbm_k_step_adj' for 'sm_90'
ptxas info    : Function properties for lbm_k_step_adj
ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 80 registers, used 1 barriers, 64 bytes smem
ptxas info    : Compile time = 56.148 ms
ptxas info    : Function properties for lbm_helper
ptxas         .     16 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Compiling entry function 'lbm_k_reduce' for 'sm_90'
ptxas info    : Function properties for lbm_k_reduce
ptxas         .     264 bytes stack frame, 256 bytes spill stores, 248 bytes spill loads
ptxas info    : Used 128 registers, used 1 barriers, 64 bytes smem
";

    #[test]
    fn the_report_gives_each_kernel_its_registers_and_local_memory() {
        let kernels = parse_ptxas_report(REPORT);
        assert_eq!(
            kernels,
            [
                KernelResources {
                    name: "lbm_k_step_adj".into(),
                    registers: 80,
                    ..Default::default()
                },
                KernelResources {
                    name: "lbm_k_reduce".into(),
                    registers: 128,
                    stack_bytes: 264,
                    spill_store_bytes: 256,
                    spill_load_bytes: 248,
                }
            ]
        );
    }

    #[test]
    fn nvrtc_reports_a_kernel_it_compiles() {
        if !super::super::nvrtc_for_test("nvrtc_reports_a_kernel_it_compiles") {
            return;
        }
        // A local array filled and read at indices known only at run time lives in the
        // stack frame.
        let source = "extern \"C\" __global__ void k(float* x, int i, int n) {\n\
            float a[256];\n\
            for (int j = 0; j < n; ++j) a[j & 255] = x[j];\n\
            x[0] = a[i & 255];\n}";
        let kernels = kernel_resources(source, 90).unwrap();
        assert_eq!(kernels.len(), 1);
        assert_eq!(kernels[0].name, "k");
        assert!(kernels[0].registers > 0, "{kernels:?}");
        assert_eq!(kernels[0].stack_bytes, 1024, "{kernels:?}");
    }
}
