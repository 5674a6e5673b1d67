//! Saves whose value nothing reads back: a liveness pass over the reverse sweep.
//!
//! The adjoint saves a variable before each assignment that overwrites it whenever the
//! reverse sweep reads the variable anywhere (`Activity::must_save`). Per assignment that
//! is often more than needed: `cu = 0; for a in 0..D { cu += C[i][a] * u[a]; }` saves
//! `cu` four times per `i`, yet the reverse sweep reads only the value from before
//! `cu = 0` (the previous `i`'s product, which its adjoint needs); the partial sums it
//! restores inside the loop are overwritten by the next restore before anything reads
//! them, as the adjoint of an addition needs no operand.
//!
//! A restore is dead when the variable it writes is dead just after it: no path through
//! the reverse sweep from there reads the variable before writing all of it again. Such a
//! restore and its save (the same [`SaveSite`]) are dropped together, so the tape stays
//! last-in, first-out: both run inside the same loops and branches, as many times.
//! Dropping a dead write leaves every other variable's liveness as it was, so one pass
//! finds them all.

use std::collections::BTreeSet;

use crate::ir::*;

/// The sites whose restores in `reverse` write a value that is never read.
pub fn find(reverse: &Block, f: &Function) -> BTreeSet<SaveSite> {
    // What the printed adjoint reads after the reverse sweep: the adjoints it returns.
    // The parameters are kept live too, for a printer that reads them back.
    let exit = f
        .vars
        .iter()
        .enumerate()
        .filter(|(_, v)| matches!(v.role, Role::Param(_) | Role::Adjoint(_)))
        .map(|(id, _)| id)
        .collect();
    let mut liveness = Liveness {
        live_restores: BTreeSet::new(),
        all_restores: BTreeSet::new(),
    };
    liveness.block(reverse, exit);
    liveness
        .all_restores
        .difference(&liveness.live_restores)
        .copied()
        .collect()
}

/// Drops the saves and restores of `dead` sites from `block` and the blocks nested in it.
pub fn remove(block: &mut Block, dead: &BTreeSet<SaveSite>) {
    block.retain(|s| match &s.kind {
        StmtKind::Save(_, site) | StmtKind::Restore(_, site) => !dead.contains(site),
        _ => true,
    });
    for s in block.iter_mut() {
        match &mut s.kind {
            StmtKind::If {
                then_branch,
                else_branch,
                ..
            } => {
                remove(then_branch, dead);
                remove(else_branch, dead);
            }
            StmtKind::Match { arms, .. } => arms.iter_mut().for_each(|a| remove(&mut a.body, dead)),
            StmtKind::For { body, .. } => remove(body, dead),
            _ => {}
        }
    }
}

type Live = BTreeSet<VarId>;

/// Backward liveness of variables, recording which restores write a live value.
struct Liveness {
    /// Sites whose restore wrote a variable live just after it, on some visit.
    live_restores: BTreeSet<SaveSite>,
    all_restores: BTreeSet<SaveSite>,
}

impl Liveness {
    /// The variables live before `block`, given those live after it.
    fn block(&mut self, block: &Block, mut live: Live) -> Live {
        for s in block.iter().rev() {
            live = self.stmt(s, live);
        }
        live
    }

    /// The variables live before `s`, given those live after it.
    fn stmt(&mut self, s: &Stmt, mut live: Live) -> Live {
        match &s.kind {
            StmtKind::Restore(place, site) => {
                self.all_restores.insert(*site);
                if live.contains(&place.var()) {
                    self.live_restores.insert(*site);
                }
                kill(&mut live, place);
                read_index(&mut live, place);
            }
            StmtKind::Assign { place, value } => {
                kill(&mut live, place);
                read_index(&mut live, place);
                read(&mut live, value);
            }
            StmtKind::Let { var, value } => {
                live.remove(var);
                read(&mut live, value);
            }
            StmtKind::Copy { dst, src } => {
                live.remove(dst);
                live.insert(*src);
            }
            StmtKind::Call { args, outs, .. } => {
                outs.iter().for_each(|o| {
                    live.remove(o);
                });
                args.iter().for_each(|a| read(&mut live, a));
            }
            StmtKind::RestoreControl(v) | StmtKind::Zero(v) => {
                live.remove(v);
            }
            // Adds into `into`: reads it as well.
            StmtKind::Accumulate { into, from } => {
                live.insert(*into);
                live.insert(*from);
            }
            // Adds into the argument adjoints, reads the outputs' and the arguments.
            StmtKind::CallAdjoint {
                args,
                out_bars,
                arg_bars,
                ..
            } => {
                live.extend(out_bars.iter().chain(arg_bars));
                args.iter().for_each(|a| read(&mut live, a));
            }
            StmtKind::Save(place, _) => {
                live.insert(place.var());
                read_index(&mut live, place);
            }
            StmtKind::SaveControl(e) => read(&mut live, e),
            StmtKind::If {
                cond,
                then_branch,
                else_branch,
            } => {
                let then_live = self.block(then_branch, live.clone());
                let else_live = self.block(else_branch, live);
                live = then_live.union(&else_live).copied().collect();
                read(&mut live, cond);
            }
            // An arm may not match (the fall-through keeps what is live after).
            StmtKind::Match { scrutinee, arms } => {
                let mut before = live.clone();
                for arm in arms {
                    before.extend(self.block(&arm.body, live.clone()));
                }
                live = before;
                read(&mut live, scrutinee);
            }
            // The loop may run any number of times: what is live at its head is what is
            // live after it or before its body, the body's entry fed back to its exit,
            // until nothing more becomes live.
            StmtKind::For {
                start, end, body, ..
            } => {
                let mut head = live.clone();
                loop {
                    let entry = self.block(body, head.clone());
                    let grown: Live = head.union(&entry).copied().collect();
                    if grown == head {
                        break;
                    }
                    head = grown;
                }
                live = head;
                read(&mut live, start);
                read(&mut live, end);
            }
            StmtKind::Return(values) => values.iter().for_each(|v| read(&mut live, v)),
        }
        live
    }
}

/// An assignment to a whole variable ends its liveness; to an element, not.
fn kill(live: &mut Live, place: &Place) {
    if let Place::Var(v) = place {
        live.remove(v);
    }
}

fn read_index(live: &mut Live, place: &Place) {
    if let Some(i) = place.index() {
        read(live, i);
    }
}

fn read(live: &mut Live, e: &Expr) {
    e.for_each_var(&mut |v| {
        live.insert(v);
    });
}

/// The pass on operators as written: what the library's equilibrium still saves, and that
/// a loop-carried value the next reversed iteration reads keeps its save.
#[cfg(test)]
mod tests {
    use crate::ir::*;
    use crate::recompute::Recompute;
    use crate::test_support::{lowered, operator};

    /// The names of the variables the forward sweep of `item`'s adjoint saves, once per
    /// save statement, in order.
    fn saved(item: &syn::ItemFn) -> Vec<String> {
        let (mut f, act) = lowered(item);
        let recompute = Recompute::analyse(&f, &act);
        let adjoint = crate::adjoint::transform(&mut f, &act, &recompute);
        let mut names = Vec::new();
        walk(&adjoint.forward, false, &mut |s, _| {
            if let StmtKind::Save(place, _) = &s.kind {
                names.push(f.vars[place.var()].name.clone());
            }
        });
        names
    }

    /// `usq` and the partial sums of `cu` are restored only to be overwritten; the value
    /// of `cu` before `cu = 0` is the previous direction's, which its adjoint reads.
    #[test]
    fn equilibrium_saves_only_the_product_the_previous_direction_reads() {
        let source = include_str!("../../lbm-runtime/src/ops/equilibria.rs");
        assert_eq!(saved(&operator(source, "equilibrium")), ["cu"]);
    }

    /// Each assignment of a value whose adjoint reads it keeps its save: `a = a * g[i]`
    /// reads `a` from before it, `b` is read by the next iteration's first statement.
    #[test]
    fn values_read_back_keep_their_saves() {
        let item: syn::ItemFn = syn::parse_quote! {
            fn chain(#[populations] g: [Real; Q], #[param] s: Real) -> Real {
                let mut a = s;
                let mut b = 0.0;
                let mut sum = 0.0;
                for i in 0..Q {
                    a = a * g[i] + b * b;
                    b = s * g[i];
                    sum += g[i];
                }
                a + sum
            }
        };
        assert_eq!(saved(&item), ["a", "b"]);
    }
}
