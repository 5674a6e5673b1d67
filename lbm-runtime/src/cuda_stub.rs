//! The CUDA backend's stand-in in a build without the `cuda` feature: no cudarc, no
//! device code, only what callers probe before they choose a backend. Each item reports
//! the missing feature, never panics.

use crate::error::{LbmError, Result};

/// Why nothing runs on a GPU in this build, and how to get a build that can.
pub(crate) fn missing_feature() -> LbmError {
    LbmError::BackendUnavailable(
        "this build of lbm-runtime lacks the `cuda` feature; enable it to run on a GPU (it \
         is on by default: drop `default-features = false`, or add `features = [\"cuda\"]` \
         to the lbm-runtime dependency)"
            .to_string(),
    )
}

/// Whether a CUDA driver, a device and NVRTC are there to run kernels: never in this
/// build, and the error says the `cuda` feature is missing.
///
/// ```
/// let why = lbm_runtime::cuda::check_available().unwrap_err();
/// assert!(why.to_string().contains("`cuda` feature"));
/// ```
pub fn check_available() -> Result<()> {
    Err(missing_feature())
}

#[cfg(test)]
mod tests {
    use crate::{ops, Backend, Grid, LatticeKind, LbmError, Precision, Simulation, Step};

    #[test]
    fn asking_for_cuda_names_the_missing_feature() {
        let grid = Grid::new_2d(LatticeKind::D2Q9, 4, 4).unwrap();
        let step = Step::new(&ops::bgk::INFO).uniform("omega", [1.0]);
        let err = Simulation::new(grid, &step, Precision::F32, Backend::Cuda)
            .err()
            .expect("no CUDA simulation without the `cuda` feature");
        assert!(matches!(err, LbmError::BackendUnavailable(_)), "{err}");
        assert!(err.to_string().contains("`cuda` feature"), "{err}");
    }

    #[test]
    fn the_default_backend_is_the_cpu() {
        // Only read here: setting variables would race with other tests.
        if std::env::var_os("LBM_BACKEND").is_none() {
            assert_eq!(Backend::from_env().unwrap(), Backend::Cpu);
        }
    }
}
