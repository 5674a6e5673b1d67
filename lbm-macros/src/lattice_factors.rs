//! Lattice components gathered at the end of every product.
//!
//! A product by a lattice velocity component is printed as `times_c(x, c)`, which an
//! unrolled loop folds to `-0.0` where the component is zero (see
//! [`Expr::lattice_product`]). A product of two components, `f[i] * C[i][a] * C[i][b]`,
//! keeps a zero all the same: where `C[i][a]` is zero and `C[i][b]` is `-1`, the outer
//! factor turns the inner `-0.0` into `+0.0`, and the sum the product feeds keeps adding
//! it (`y + 0.0` is not `y` when `y` is `-0.0`). The adjoint splits such a chain over two
//! statements, so the emitters cannot see it whole.
//!
//! This pass rewrites every real product tree that mixes components with other factors
//! into `rest * (c1 * c2 * ..)`: the other factors keep their tree, in their order, and
//! the components move to one product at the end, which the emitters print as a single
//! `times_c` and the adjoint differentiates as one constant factor. It runs on the lowered
//! operator, before the analyses, so the forward and the adjoint both see the new form.
//!
//! Exactness: every lattice's components are `-1`, `0` or `1`. A product by `±1` is
//! exact and rounding to nearest commutes with a change of sign, so wherever no
//! component is zero the rewritten product equals the written one bit for bit. Where one
//! is zero the result is `-0.0` (as for a single component), which differs from the
//! written product only in the sign of a zero, or where another factor is not finite.

use crate::ir::*;

/// Rewrites every expression of `f`'s body (see the module docs).
pub fn gather(f: &mut Function) {
    gather_block(&mut f.body);
}

fn gather_block(block: &mut Block) {
    for s in block {
        for e in s.exprs_mut() {
            gather_expr(e);
        }
        for b in s.nested_blocks_mut() {
            gather_block(b);
        }
    }
}

/// Rewrites the operands first, so that a product sees its factors already gathered.
fn gather_expr(e: &mut Expr) {
    for operand in e.operands_mut() {
        gather_expr(operand);
    }
    if is_real_product(e) {
        let span = e.span;
        let mut components = Vec::new();
        let rest = strip_components(std::mem::replace(e, Expr::real(0.0, span)), &mut components);
        *e = match (rest, components.into_iter().reduce(product)) {
            (Some(rest), Some(c)) => product(rest, c),
            (Some(rest), None) => rest,
            (None, Some(c)) => c,
            (None, None) => unreachable!("a product has at least one factor"),
        };
        e.span = span;
    }
}

fn is_real_product(e: &Expr) -> bool {
    matches!(e.kind, ExprKind::Binary(BinOp::Mul, ..)) && e.ty.is_scalar_real()
}

/// The product tree `e` without its lattice components, which are appended to
/// `components` left to right; `None` where every factor is a component.
fn strip_components(e: Expr, components: &mut Vec<Expr>) -> Option<Expr> {
    if matches!(e.kind, ExprKind::LatC(..)) {
        components.push(e);
        return None;
    }
    if !is_real_product(&e) {
        return Some(e);
    }
    let span = e.span;
    let ExprKind::Binary(BinOp::Mul, a, b) = e.kind else {
        unreachable!("checked by `is_real_product`")
    };
    let a = strip_components(*a, components);
    let b = strip_components(*b, components);
    match (a, b) {
        (Some(a), Some(b)) => {
            let mut ab = product(a, b);
            ab.span = span;
            Some(ab)
        }
        (a, b) => a.or(b),
    }
}

fn product(a: Expr, b: Expr) -> Expr {
    Expr::binary(BinOp::Mul, a, b)
}

#[cfg(test)]
mod tests {
    use proc_macro2::Span;

    use super::*;

    /// The leaves of a random product tree: real variables (`VarId`s `0..vars`) and
    /// lattice components (`C[k][0]`, `k` the component's number, `0..components`).
    #[derive(Default)]
    struct Leaves {
        vars: usize,
        components: usize,
    }

    fn random_tree(rng: &mut u64, depth: usize, tree: &mut Leaves) -> Expr {
        let span = Span::call_site();
        let mut next = || {
            *rng ^= *rng << 13;
            *rng ^= *rng >> 7;
            *rng ^= *rng << 17;
            *rng
        };
        let pick = next() % if depth == 0 { 2 } else { 4 };
        match pick {
            0 => {
                tree.vars += 1;
                Expr::var(tree.vars - 1, Ty::Real, span)
            }
            1 => {
                tree.components += 1;
                let k = Expr::int(tree.components as i64 - 1, span);
                Expr::new(
                    ExprKind::LatC(Box::new(k), Box::new(Expr::int(0, span))),
                    Ty::Real,
                    span,
                )
            }
            _ => {
                let a = random_tree(rng, depth - 1, tree);
                let b = random_tree(rng, depth - 1, tree);
                product(a, b)
            }
        }
    }

    /// Evaluates a tree in f32 as the emitters print it: `times_c` for a product by
    /// lattice components, `*` for any other.
    fn eval(e: &Expr, x: &[f32], c: &[f32]) -> f32 {
        let int = |e: &Expr| match e.kind {
            ExprKind::IntLit(k) => k as usize,
            _ => unreachable!("the tests index by literals"),
        };
        match &e.kind {
            ExprKind::Var(v) => x[*v],
            ExprKind::LatC(k, _) => c[int(k)],
            ExprKind::Binary(BinOp::Mul, ..) if e.lattice_product().is_some() => {
                let (a, k) = e.lattice_product().expect("checked by the guard");
                let k = eval(k, x, c);
                if k == 0.0 {
                    -0.0
                } else {
                    eval(a, x, c) * k
                }
            }
            ExprKind::Binary(BinOp::Mul, a, b) => eval(a, x, c) * eval(b, x, c),
            _ => unreachable!("the trees hold products, variables and components"),
        }
    }

    /// Evaluates a tree as written: every product an IEEE product.
    fn eval_as_written(e: &Expr, x: &[f32], c: &[f32]) -> f32 {
        match &e.kind {
            ExprKind::Binary(BinOp::Mul, a, b) => {
                eval_as_written(a, x, c) * eval_as_written(b, x, c)
            }
            _ => eval(e, x, c),
        }
    }

    /// Whether every product holding a component is `rest * components`, with no
    /// component in `rest`.
    fn is_gathered(e: &Expr) -> bool {
        let has_component = |e: &Expr| {
            let mut found = false;
            e.for_each_expr(&mut |x| found |= matches!(x.kind, ExprKind::LatC(..)));
            found
        };
        let all_components = |e: &Expr| {
            let mut all = true;
            e.for_each_expr(&mut |x| {
                all &= matches!(
                    x.kind,
                    ExprKind::LatC(..) | ExprKind::Binary(BinOp::Mul, ..)
                ) || matches!(x.kind, ExprKind::IntLit(_))
            });
            all
        };
        match &e.kind {
            ExprKind::Binary(BinOp::Mul, a, b) if all_components(b) && !all_components(a) => {
                !has_component(a)
            }
            ExprKind::Binary(BinOp::Mul, a, b) => {
                all_components(e) || (!has_component(a) && !has_component(b))
            }
            _ => true,
        }
    }

    /// Random trees of up to 16 factors (at most 7 of them components), every assignment of `-1, 0, 1` to their
    /// components and random finite values of either sign: gathered, each equals the
    /// written product bit for bit where no component is zero and is `-0.0` where one
    /// is (where every factor is a component the value is a constant product, compared
    /// up to the sign of a zero), and no component stays inside the rest.
    #[test]
    fn gathered_products_equal_the_written_ones() {
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..2000 {
            let mut tree = Leaves::default();
            let written = random_tree(&mut rng, 4, &mut tree);
            if tree.components > 7 {
                continue;
            }
            let mut gathered = written.clone();
            gather_expr(&mut gathered);
            assert!(is_gathered(&gathered), "{gathered:?}");
            let x: Vec<f32> = (0..tree.vars)
                .map(|k| {
                    rng = rng
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(k as u64 | 1);
                    let m = (rng >> 40) as f32 / (1u64 << 24) as f32 + 0.5;
                    let e = ((rng >> 8) % 24) as i32 - 12;
                    if rng & 1 == 0 {
                        m * 2f32.powi(e)
                    } else {
                        -m * 2f32.powi(e)
                    }
                })
                .collect();
            for code in 0..3usize.pow(tree.components as u32) {
                let c: Vec<f32> = (0..tree.components)
                    .map(|k| [-1.0, 0.0, 1.0][code / 3usize.pow(k as u32) % 3])
                    .collect();
                let (got, want) = (eval(&gathered, &x, &c), eval_as_written(&written, &x, &c));
                if tree.vars == 0 {
                    assert_eq!(got, want);
                } else if c.contains(&0.0) {
                    assert_eq!(got.to_bits(), (-0.0f32).to_bits(), "{gathered:?} at {c:?}");
                } else {
                    assert_eq!(got.to_bits(), want.to_bits(), "{gathered:?} at {x:?} {c:?}");
                }
            }
        }
    }
}
