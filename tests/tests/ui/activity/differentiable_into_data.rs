use lbm_runtime::operator;
use lbm_runtime::ops::velocity_mismatch;

// `velocity_mismatch` takes its target as `#[data]`: a differentiable target passed there
// would get a zero gradient.
#[operator]
fn objective(f: [Real; Q], #[param] target: [Real; D]) -> Real {
    velocity_mismatch(f, target)
}

fn main() {}
