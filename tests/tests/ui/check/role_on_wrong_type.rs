use lbm_runtime::operator;

// Roles fit one type each: populations are `[Real; Q]`, a link mask is an integer.
#[operator]
fn misplaced(
    #[populations] rho: Real,
    #[links] mask: [Real; Q],
    #[local]
    #[far]
    g: [Real; Q],
    #[range("[0, 1]")] tag: i32,
) -> Real {
    rho * mask[0] * g[0] * (tag as Real)
}

fn main() {}
