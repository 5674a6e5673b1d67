//! Values the reverse sweep computes again instead of taking from the tape.
//!
//! A loop-local temporary, assigned once per iteration from values that stay put, is
//! cheaper to compute again at the start of each reversed iteration than to save on every
//! forward iteration: a save costs a tape slot (on the GPU a register, or local memory
//! where the tape is long), a recomputation a few arithmetic instructions. TRT's `sym`
//! and `anti`, two per direction, are such temporaries.
//!
//! A variable qualifies when its single assignment is a statement of a loop's body itself
//! (not nested in a branch or an inner loop), nothing else reads it outside that body or
//! before that statement in it, and the assigned value reads only the loop's counter,
//! variables assigned at most once outside any loop (which hold the same value whenever
//! the loop runs, forward or reversed) and temporaries of the same body that qualify and
//! come earlier. Then, at the start of each reversed iteration, every variable holds what
//! it held when the statement ran forward in that iteration, so running the statement
//! again gives the value the forward sweep computed.

use crate::activity::Activity;
use crate::ir::*;

/// Which variables the reverse sweep recomputes (see the module docs).
pub struct Recompute {
    recomputed: Vec<bool>,
}

impl Recompute {
    /// The temporaries that qualify and that the reverse sweep reads (or that one it
    /// reads is computed from); the others are not worth computing again.
    pub fn analyse(f: &Function, act: &Activity) -> Recompute {
        let writes = write_counts(f);
        let mut reads = vec![0usize; f.vars.len()];
        count_reads(&f.body, &mut reads);
        let mut recomputed = vec![false; f.vars.len()];
        walk(&f.body, false, &mut |s, _| {
            if let StmtKind::For { var, body, .. } = &s.kind {
                let qualifying = qualifying(f, act, *var, body, &writes, &reads);
                // Backwards over the body: a temporary that stays is needed, and so is
                // every earlier temporary its value reads.
                let mut keep: Vec<bool> = qualifying.iter().map(|(v, _)| act.needed(*v)).collect();
                for k in (0..qualifying.len()).rev() {
                    if !keep[k] {
                        continue;
                    }
                    qualifying[k].1.for_each_var(&mut |w| {
                        if let Some(j) = qualifying[..k].iter().position(|(v, _)| *v == w) {
                            keep[j] = true;
                        }
                    });
                }
                for ((v, _), keep) in qualifying.iter().zip(keep) {
                    recomputed[*v] = keep;
                }
            }
        });
        Recompute { recomputed }
    }

    /// Whether the reverse sweep computes `v` again rather than restoring it.
    pub fn is_recomputed(&self, v: VarId) -> bool {
        self.recomputed[v]
    }

    /// The statements of a loop body that each reversed iteration runs first, in order.
    pub fn statements(&self, body: &Block) -> Block {
        body.iter()
            .filter(|s| matches!(&s.kind, StmtKind::Assign { place: Place::Var(v), .. } if self.recomputed[*v]))
            .cloned()
            .collect()
    }
}

/// The temporaries of `body` (the body of the loop counting with `counter`) that qualify,
/// with their assigned values, in body order.
fn qualifying<'b>(
    f: &Function,
    act: &Activity,
    counter: VarId,
    body: &'b Block,
    writes: &[usize],
    reads: &[usize],
) -> Vec<(VarId, &'b Expr)> {
    let mut body_reads = vec![0usize; f.vars.len()];
    count_reads(body, &mut body_reads);
    // Reads of each variable in the statements before the current one.
    let mut before = vec![0usize; f.vars.len()];
    let mut found: Vec<(VarId, &Expr)> = Vec::new();
    for s in body {
        if let StmtKind::Assign {
            place: Place::Var(v),
            value,
        } = &s.kind
        {
            let v = *v;
            let mut sources_stay = true;
            value.for_each_var(&mut |w| {
                let stays = w == counter
                    || (w != v && !act.overwritten(w))
                    || found.iter().any(|(t, _)| *t == w);
                sources_stay &= stays;
            });
            let local = f.vars[v].role == Role::Local;
            if local
                && writes[v] == 1
                && reads[v] == body_reads[v]
                && before[v] == 0
                && sources_stay
            {
                found.push((v, value));
            }
        }
        count_reads(std::slice::from_ref(s), &mut before);
    }
    found
}

/// Statements writing each variable, wherever they are (a loop's counter counts its loop).
fn write_counts(f: &Function) -> Vec<usize> {
    let mut writes = vec![0usize; f.vars.len()];
    for &p in &f.params {
        writes[p] += 1;
    }
    walk(&f.body, false, &mut |s, _| {
        s.writes().into_iter().for_each(|v| writes[v] += 1);
    });
    writes
}

/// Adds, per variable, the expressions and copies in `stmts` (and the statements nested
/// in them) that read it.
fn count_reads(stmts: &[Stmt], reads: &mut [usize]) {
    for s in stmts {
        for e in s.exprs() {
            e.for_each_var(&mut |v| reads[v] += 1);
        }
        if let StmtKind::Copy { src, .. } = &s.kind {
            reads[*src] += 1;
        }
        for b in s.nested_blocks() {
            count_reads(b, reads);
        }
    }
}

/// The analysis on operators as written: what it recomputes in the library's TRT, in a
/// body mixing temporaries it may and may not recompute, and how often the random programs
/// the tests hold to finite differences give it something to recompute (so that those
/// tests check the recomputation too).
#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{lowered, operator};

    /// The names of the variables the reverse sweep of `item` recomputes.
    fn recomputed(item: &syn::ItemFn) -> Vec<String> {
        let (f, act) = lowered(item);
        let r = Recompute::analyse(&f, &act);
        (0..f.vars.len())
            .filter(|&v| r.is_recomputed(v))
            .map(|v| f.vars[v].name.clone())
            .collect()
    }

    #[test]
    fn trt_recomputes_its_index_and_both_parts() {
        let source = include_str!("../../lbm-runtime/src/ops/collision.rs");
        assert_eq!(recomputed(&operator(source, "trt")), ["j", "sym", "anti"]);
    }

    /// The operator the gradient tests hold to finite differences: its temporaries the
    /// rule must take beside ones it must leave on the tape.
    #[test]
    fn temporaries_whose_sources_move_are_saved() {
        let source = include_str!("../../tests/tests/control_flow.rs");
        // `lagged` reads `acc`, which the body assigns after it; `carried` reads `prev`,
        // assigned after it and read before its assignment in the next iteration.
        let item = operator(source, "loop_temporaries");
        assert_eq!(recomputed(&item), ["j", "sym"]);
    }

    #[test]
    fn the_tests_random_programs_have_temporaries_to_recompute() {
        // The seed and count `tests/build.rs` gives the random-program tests.
        let programs = lbm_opgen::generate(0x5eed_0001, 240);
        let with = programs
            .iter()
            .filter(|p| {
                let file = syn::parse_file(&p.source).expect("programs parse");
                file.items.iter().any(|item| match item {
                    syn::Item::Fn(f) if f.sig.ident == p.name.as_str() => !recomputed(f).is_empty(),
                    _ => false,
                })
            })
            .count();
        eprintln!(
            "{with} of {} random programs recompute a temporary",
            programs.len()
        );
        assert!(
            with >= 40,
            "only {with} random programs recompute a temporary"
        );
    }
}
