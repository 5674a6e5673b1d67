//! Operators written the way users write them, which once compiled to silently wrong
//! gradients: a call assigned to one of its own arguments, several call results saved in a
//! loop, a call fed the same variable twice. Each adjoint must agree with central finite
//! differences in f64.

use lbm_runtime::ops::{
    bgk, density_velocity, equilibrium, halfway_bounce_back, partial_bounce_back,
};
use lbm_runtime::{operator, OperatorInfo};
use lbm_tests::gradcheck::assert_operator_gradients;

/// A local scalar helper, called with its result assigned to its own argument.
#[operator]
fn square(x: Real) -> Real {
    x * x
}

/// `g = bgk(g, omega)`: the callee's adjoint adds into `g`'s adjoint, which must not be
/// cleared afterwards as if `g` were only the output.
#[operator]
fn bounce_then_collide(
    #[populations] f: [Real; Q],
    #[local] f_local: [Real; Q],
    #[param] omega: Real,
    #[links] links: i64,
) -> [Real; Q] {
    let mut g = halfway_bounce_back(f, f_local, links);
    g = bgk(g, omega);
    g
}

/// `r = square(r)` on a scalar.
#[operator]
fn repeated_square(#[populations] f: [Real; Q], #[param] s: Real) -> Real {
    let mut r = f[0] * s + f[1];
    r = square(r);
    r = square(r);
    r
}

/// The same variable as two arguments and as the result.
#[operator]
fn self_partial_bounce(#[populations] f: [Real; Q], #[param] solid: Real) -> [Real; Q] {
    let mut g = bgk(f, 1.2);
    g = partial_bounce_back(g, g, solid);
    g
}

/// BGK sub-cycled: a two-output call whose outputs are both overwritten on the next
/// iteration, so both are saved and must be restored in the reverse order.
#[operator]
fn subcycled_bgk(#[populations] f: [Real; Q], #[param] omega: Real) -> [Real; Q] {
    let mut g = f;
    for _k in 0..2 {
        let (rho, u) = density_velocity(g);
        let feq = equilibrium(rho, u);
        for i in 0..Q {
            g[i] = g[i] - omega * (g[i] - feq[i]);
        }
    }
    g
}

fn check(op: &OperatorInfo, cases: usize) {
    assert_operator_gradients(op, cases, 0x7e57);
}

/// A value no output reads overflows in the forward run; its reverse sweep must not send
/// `0 * inf = NaN` into the gradient (`cargo xtask fuzz --seed 0x77` found it in a random
/// program whose dead `exp` overflowed).
#[operator]
fn dead_overflow(#[populations] f: [Real; Q], #[param] s: Real) -> Real {
    let big = (1000.0 * s).exp();
    let unused = big * f[0];
    let (rho, u) = density_velocity(f);
    let wasted = unused * rho * u[0];
    f[1] * s
}

#[test]
fn call_assigned_to_its_own_argument() {
    check(&bounce_then_collide::INFO, 8);
    check(&repeated_square::INFO, 8);
}

#[test]
fn same_variable_as_two_arguments_and_the_result() {
    check(&self_partial_bounce::INFO, 8);
}

#[test]
fn several_saved_call_results_restore_in_reverse_order() {
    check(&subcycled_bgk::INFO, 8);
}

#[test]
fn values_no_output_reads_leave_the_gradient_finite() {
    check(&dead_overflow::INFO, 8);
}
