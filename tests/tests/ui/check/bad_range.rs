use lbm_runtime::operator;

// An interval must be written `(lo, hi)` or `[lo, hi]` with lo < hi.
#[operator]
fn relax(
    #[populations] f: [Real; Q],
    #[param]
    #[range("0 < omega < 2")]
    omega: Real,
    #[range("(2, 0)")] s: Real,
) -> Real {
    f[0] * omega * s
}

fn main() {}
