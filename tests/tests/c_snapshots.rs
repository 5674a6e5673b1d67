//! Snapshots of generated code, so that a change to a printer shows up as a reviewed diff:
//! the C forward and adjoint of `density` and `bgk`, and the Rust forward of `density`.
//! The C text is the same on every lattice (it names `Q`, `D` and the `LBM_*` tables).
//!
//! After an intended change, update with `UPDATE_EXPECT=1 cargo test -p lbm-tests --test
//! c_snapshots` and review the diff.

use expect_test::expect;
use lbm_runtime::ops::{bgk, density};

/// The Rust forms are stored as unformatted tokens; format them as `cargo xtask codegen
/// --rust` does, and keep them raw when they do not parse.
fn format_rust(tokens: &str) -> String {
    match syn::parse_file(tokens) {
        Ok(file) => prettyplease::unparse(&file),
        Err(_) => format!("{tokens}\n"),
    }
}

#[test]
fn density_c_forward() {
    expect![[r#"
        /* operator `density`: forward */
        __device__ __forceinline__ void lbm_density(const real* f, real* lbm_out0)
        {
            real rho = 0;
            real ret = 0;
            rho = (real)0.0;
            #pragma unroll
            for (int i = 0; i < Q; ++i) {
                rho += f[i];
            }
            ret = rho;
            *lbm_out0 = ret;
        }
    "#]]
    .assert_eq(density::INFO.c_forward);
}

#[test]
fn density_c_adjoint() {
    expect![[r#"
        /* operator `density`: adjoint (forward sweep, then reverse sweep) */
        __device__ __forceinline__ void lbm_density_adj(const real* f, const real* lbm_out0_bar, real* lbm_f_bar)
        {
            real rho = 0;
            real ret = 0;
            real ret_bar = -(real)0;
            real rho_bar = -(real)0;
            real f_bar[Q]; for (int lbm_k = 0; lbm_k < Q; ++lbm_k) f_bar[lbm_k] = -(real)0;
            /* forward sweep */
            rho = (real)0.0;
            #pragma unroll
            for (int i = 0; i < Q; ++i) {
                rho += f[i];
            }
            ret = rho;
            /* reverse sweep */
            ret_bar = *lbm_out0_bar;
            const real d_1 = ret_bar;
            ret_bar = (real)-0.0;
            rho_bar += d_1;
            #pragma unroll
            for (int i = Q - 1; i >= 0; --i) {
                const real d = rho_bar;
                rho_bar = (real)-0.0;
                rho_bar += d;
                f_bar[i] += d;
            }
            rho_bar = (real)-0.0;
            for (int lbm_k = 0; lbm_k < Q; ++lbm_k) lbm_f_bar[lbm_k] += f_bar[lbm_k];
        }
    "#]].assert_eq(density::INFO.c_adjoint);
}

#[test]
fn bgk_c_forward() {
    expect![[r#"
        /* operator `bgk`: forward */
        __device__ __forceinline__ void lbm_bgk(const real* f, const real* omega_in, real* lbm_out0)
        {
            real omega = *omega_in;
            real rho[LBM_LEN_density_velocity_0] = {0};
            real u[LBM_LEN_density_velocity_1] = {0};
            real feq[LBM_LEN_equilibrium_0] = {0};
            real out[Q] = {0};
            real ret[Q] = {0};
            lbm_density_velocity(f, rho, u);
            lbm_equilibrium(rho, u, feq);
            #pragma unroll
            for (int k = 0; k < Q; ++k) {
                out[k] = (real)0.0;
            }
            #pragma unroll
            for (int i = 0; i < Q; ++i) {
                out[i] = f[i] - omega * (f[i] - feq[i]);
            }
            #pragma unroll
            for (int k_1 = 0; k_1 < Q; ++k_1) {
                ret[k_1] = out[k_1];
            }
            for (int lbm_k = 0; lbm_k < Q; ++lbm_k) lbm_out0[lbm_k] = ret[lbm_k];
        }
    "#]]
    .assert_eq(bgk::INFO.c_forward);
}

#[test]
fn bgk_c_adjoint() {
    expect![[r#"
        /* operator `bgk`: adjoint (forward sweep, then reverse sweep) */
        __device__ __forceinline__ void lbm_bgk_adj(const real* f, const real* omega_in, const real* lbm_out0_bar, real* lbm_f_bar, real* lbm_omega_bar)
        {
            real omega = *omega_in;
            real rho[LBM_LEN_density_velocity_0] = {0};
            real u[LBM_LEN_density_velocity_1] = {0};
            real feq[LBM_LEN_equilibrium_0] = {0};
            real out[Q] = {0};
            real ret[Q] = {0};
            real ret_bar[Q]; for (int lbm_k = 0; lbm_k < Q; ++lbm_k) ret_bar[lbm_k] = -(real)0;
            real out_bar[Q]; for (int lbm_k = 0; lbm_k < Q; ++lbm_k) out_bar[lbm_k] = -(real)0;
            real f_bar[Q]; for (int lbm_k = 0; lbm_k < Q; ++lbm_k) f_bar[lbm_k] = -(real)0;
            real omega_bar = -(real)0;
            real feq_bar[LBM_LEN_equilibrium_0]; for (int lbm_k = 0; lbm_k < LBM_LEN_equilibrium_0; ++lbm_k) feq_bar[lbm_k] = -(real)0;
            real rho_bar[LBM_LEN_density_velocity_0]; for (int lbm_k = 0; lbm_k < LBM_LEN_density_velocity_0; ++lbm_k) rho_bar[lbm_k] = -(real)0;
            real u_bar[LBM_LEN_density_velocity_1]; for (int lbm_k = 0; lbm_k < LBM_LEN_density_velocity_1; ++lbm_k) u_bar[lbm_k] = -(real)0;
            /* forward sweep */
            lbm_density_velocity(f, rho, u);
            lbm_equilibrium(rho, u, feq);
            #pragma unroll
            for (int k = 0; k < Q; ++k) {
                out[k] = (real)0.0;
            }
            #pragma unroll
            for (int i = 0; i < Q; ++i) {
                out[i] = f[i] - omega * (f[i] - feq[i]);
            }
            #pragma unroll
            for (int k_1 = 0; k_1 < Q; ++k_1) {
                ret[k_1] = out[k_1];
            }
            /* reverse sweep */
            for (int lbm_k = 0; lbm_k < Q; ++lbm_k) ret_bar[lbm_k] = lbm_out0_bar[lbm_k];
            #pragma unroll
            for (int k_1 = Q - 1; k_1 >= 0; --k_1) {
                const real d_3 = ret_bar[k_1];
                ret_bar[k_1] = (real)-0.0;
                out_bar[k_1] += d_3;
            }
            #pragma unroll
            for (int i = Q - 1; i >= 0; --i) {
                const real d = out_bar[i];
                out_bar[i] = (real)-0.0;
                f_bar[i] += d;
                const real d_1 = -d;
                omega_bar += d_1 * (f[i] - feq[i]);
                const real d_2 = d_1 * omega;
                f_bar[i] += d_2;
                feq_bar[i] += -d_2;
            }
            #pragma unroll
            for (int k = Q - 1; k >= 0; --k) {
                out_bar[k] = (real)-0.0;
            }
            lbm_equilibrium_adj(rho, u, feq_bar, rho_bar, u_bar);
            for (int lbm_k = 0; lbm_k < LBM_LEN_equilibrium_0; ++lbm_k) feq_bar[lbm_k] = -(real)0;
            lbm_density_velocity_adj(f, rho_bar, u_bar, f_bar);
            for (int lbm_k = 0; lbm_k < LBM_LEN_density_velocity_0; ++lbm_k) rho_bar[lbm_k] = -(real)0;
            for (int lbm_k = 0; lbm_k < LBM_LEN_density_velocity_1; ++lbm_k) u_bar[lbm_k] = -(real)0;
            for (int lbm_k = 0; lbm_k < Q; ++lbm_k) lbm_f_bar[lbm_k] += f_bar[lbm_k];
            *lbm_omega_bar += omega_bar;
        }
    "#]].assert_eq(bgk::INFO.c_adjoint);
}

#[test]
fn density_rust_forward() {
    expect![[r#"
        /// The operator's forward form. Always inlined: the lane forward
        /// (`forward_lanes`) must compile all of it with its own target features.
        #[inline(always)]
        #[allow(
            unused_mut,
            unused_variables,
            unused_assignments,
            unused_parens,
            non_snake_case,
            clippy::all,
            clippy::pedantic
        )]
        pub fn forward<
            R: ::lbm_runtime::Real,
            L: ::lbm_runtime::Lattice<D, Q>,
            const D: usize,
            const Q: usize,
        >(mut f: [R; Q]) -> R {
            let mut rho: R = <R as ::lbm_runtime::tape::Value<R>>::zero();
            let mut ret: R = <R as ::lbm_runtime::tape::Value<R>>::zero();
            rho = <R as ::lbm_runtime::Real>::from_f64(0.0);
            ::lbm_runtime::unroll::up::<
                Q,
                R,
            >(
                (0) as usize,
                #[inline(always)]
                |i: usize| {
                    rho += f[(i) as usize];
                },
            );
            ret = rho;
            ret
        }
    "#]]
    .assert_eq(&format_rust(density::INFO.rust_forward));
}

/// Inactive values beside active ones: arithmetic, an intrinsic, a cast and an operator
/// call on values that carry no derivative, an inactive value overwritten, a comparison, a
/// flag. The adjoint must carry no code for them (no `c_bar`, no `e_bar`, no save of `m`
/// before it is overwritten): activity that over-approximates still gives right
/// gradients, so only the generated text shows it.
#[lbm_runtime::operator]
fn activity_precision(
    #[populations] f: [Real; Q],
    #[data] k: Real,
    #[param] s: Real,
    tag: i32,
) -> Real {
    let c = 2.0 * k + k * k + k.sqrt() + tag as Real;
    let mut m = k;
    m = m * k;
    let big = m > 0.5;
    let still = [0.0; D];
    let e = lbm_runtime::ops::equilibrium(k, still);
    let mut acc = 0.0;
    for i in 0..Q {
        acc += f[i] * c * e[i];
    }
    if big {
        acc = acc * s;
    }
    acc
}

#[test]
fn inactive_values_get_no_adjoint_code() {
    expect![[r#"
        /* operator `activity_precision`: adjoint (forward sweep, then reverse sweep) */
        __device__ __forceinline__ void lbm_activity_precision_adj(const real* f, const real* k_in, const real* s_in, int tag, const real* lbm_out0_bar, real* lbm_f_bar, real* lbm_k_bar, real* lbm_s_bar)
        {
            real k = *k_in;
            real s = *s_in;
            real c = 0;
            real m = 0;
            int big = 0;
            real still[D] = {0};
            real e[LBM_LEN_equilibrium_0] = {0};
            real acc = 0;
            real ret = 0;
            real ret_bar = -(real)0;
            real acc_bar = -(real)0;
            real s_bar = -(real)0;
            real f_bar[Q]; for (int lbm_k = 0; lbm_k < Q; ++lbm_k) f_bar[lbm_k] = -(real)0;
            real k_bar = -(real)0;
            real lbm_tape[1];
            int lbm_tp = 0;
            int lbm_ctl[1];
            int lbm_cp = 0;
            /* forward sweep */
            c = (real)2.0 * k + k * k + lbm_sqrt(k) + (real)tag;
            m = k;
            m *= k;
            big = m > (real)0.5;
            #pragma unroll
            for (int k_1 = 0; k_1 < D; ++k_1) {
                still[k_1] = (real)0.0;
            }
            lbm_equilibrium(&k, still, e);
            acc = (real)0.0;
            #pragma unroll
            for (int i = 0; i < Q; ++i) {
                acc += f[i] * c * e[i];
            }
            if (big) {
                lbm_tape[lbm_tp++] = acc;
                acc *= s;
                lbm_ctl[lbm_cp++] = (int)(1);
            } else {
                lbm_ctl[lbm_cp++] = (int)(0);
            }
            ret = acc;
            /* reverse sweep */
            ret_bar = *lbm_out0_bar;
            const real d_3 = ret_bar;
            ret_bar = (real)-0.0;
            acc_bar += d_3;
            const int branch = lbm_ctl[--lbm_cp];
            if (branch != 0) {
                acc = lbm_tape[--lbm_tp];
                const real d_2 = acc_bar;
                acc_bar = (real)-0.0;
                acc_bar += d_2 * s;
                s_bar += d_2 * acc;
            }
            #pragma unroll
            for (int i = Q - 1; i >= 0; --i) {
                const real d = acc_bar;
                acc_bar = (real)-0.0;
                acc_bar += d;
                const real d_1 = d * e[i];
                f_bar[i] += d_1 * c;
            }
            acc_bar = (real)-0.0;
            for (int lbm_k = 0; lbm_k < Q; ++lbm_k) lbm_f_bar[lbm_k] += f_bar[lbm_k];
            *lbm_s_bar += s_bar;
        }
    "#]].assert_eq(activity_precision::INFO.c_adjoint);
}

#[test]
fn divisions_by_constants_become_multiplications_in_both_forms() {
    // An IEEE division costs a GPU about ten instructions; by a constant it is written as
    // a multiplication by the folded reciprocal, in C and in Rust alike (so they stay
    // bitwise equal). A division by a value stays a division.
    use lbm_runtime::ops::{density_velocity, equilibrium};
    let (c, rust) = (equilibrium::INFO.c_forward, equilibrium::INFO.rust_forward);
    assert!(c.contains("cu * ((real)1.0 / LBM_CS2)"), "{c}");
    assert!(!c.contains("cu / LBM_CS2"), "{c}");
    let rust: String = rust.split_whitespace().collect();
    assert!(
        rust.contains("(cu*(<Ras::lbm_runtime::Real>::from_f64(1.0)/<Ras::lbm_runtime::Real>::from_f64(L::CS2)))"),
        "{rust}"
    );
    let dv = density_velocity::INFO.c_forward;
    assert!(dv.contains("inv_rho = (real)1.0 / rho[0];"), "{dv}");
}

/// A data parameter cast to a real, beside a differentiable input.
#[lbm_runtime::operator]
pub fn scaled_by_data(#[populations] f: [Real; Q], x: Real, #[data] w: Real) -> Real {
    // Data carries no derivative, so even cast twice it may become an integer (the
    // macro refuses that only for values that carry one).
    let k = (w as Real) as i32;
    let s = f[0] * x * (w as Real).sqrt();
    if k > 1 {
        return 2.0 * s;
    }
    s
}

#[test]
fn a_cast_of_data_carries_no_derivative() {
    // `w` is data: its casts and its square root are constants, so the operator compiles
    // (an integer cast of a value carrying a derivative would not) and the adjoint uses
    // `sqrt(w)` once as a factor without differentiating it or accumulating into `w`.
    let adjoint = scaled_by_data::INFO.c_adjoint;
    assert!(!adjoint.contains("w_bar +="), "{adjoint}");
    let reverse = &adjoint[adjoint
        .find("/* reverse sweep */")
        .expect("a reverse sweep")..];
    assert_eq!(reverse.matches("lbm_sqrt").count(), 1, "{adjoint}");
}
