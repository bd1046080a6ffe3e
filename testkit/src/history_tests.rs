//! The checker against small hand-made histories: one clean, then one broken promise each.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use tokio::time::Instant;

use super::{Observer, Op, Stored, Verdict, check};

fn at(base: Instant, ms: u64) -> Instant {
    base + Duration::from_millis(ms)
}

/// `a` sends a1 (acked seq 1 at 10 ms) then a2 (invoked at 20 ms, acked seq 2 at 30 ms) to `g`.
fn history(base: Instant) -> Vec<Op> {
    let mut ops = Vec::new();
    for (n, (invoked, acked)) in [(0, 10), (20, 30)].into_iter().enumerate() {
        let mut op = Op::invoked("a", &format!("a{}", n + 1), "g");
        op.invoked = at(base, invoked);
        op.acked = Some((n as i64 + 1, at(base, acked)));
        ops.push(op);
    }
    ops
}

fn stored(rows: &[(&str, i64, &str)]) -> Vec<Stored> {
    rows.iter()
        .map(|(conversation, seq, cid)| Stored {
            conversation: (*conversation).to_owned(),
            seq: *seq,
            cid: (*cid).to_owned(),
            system: false,
        })
        .collect()
}

fn seen(rows: &[(&str, i64, &str)]) -> HashMap<String, BTreeMap<i64, String>> {
    let mut seen: HashMap<String, BTreeMap<i64, String>> = HashMap::new();
    for (conversation, seq, cid) in rows {
        seen.entry((*conversation).to_owned())
            .or_default()
            .insert(*seq, (*cid).to_owned());
    }
    seen
}

fn run(
    ops: &[Op],
    rows: &[(&str, i64, &str)],
    saw: &[(&str, i64, &str)],
    member_of: &[String],
) -> Verdict {
    let seen = seen(saw);
    let observer = Observer {
        client: "b",
        member_of,
        seen: &seen,
        live_reordered: 0,
        live_duplicates: 0,
    };
    check(ops, &stored(rows), &[observer])
}

#[test]
fn each_broken_promise_is_counted_and_a_clean_history_has_none() {
    let base = Instant::now();
    let g = ["g".to_owned()];
    let both = [("g", 1, "a1"), ("g", 2, "a2")];
    let clean = run(&history(base), &both, &both, &g);
    assert!(clean.problems().is_empty(), "{clean:?}");
    assert_eq!((clean.operations, clean.acked), (2, 2));

    let mut in_doubt = history(base);
    in_doubt[1].in_doubt = true;
    let resolved = run(&in_doubt, &both, &both, &g);
    assert_eq!((resolved.in_doubt, resolved.in_doubt_resolved), (1, 1));
    assert!(resolved.problems().is_empty());

    type Case<'a> = (
        &'a str,
        Vec<Op>,
        Vec<(&'a str, i64, &'a str)>,
        Vec<(&'a str, i64, &'a str)>,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            "lost",
            history(base),
            vec![("g", 1, "a1")],
            vec![("g", 1, "a1")],
        ),
        (
            "mismatched",
            history(base),
            vec![("g", 1, "a1"), ("g", 3, "a2"), ("g", 2, "x")],
            vec![],
        ),
        (
            "duplicated",
            history(base),
            vec![("g", 1, "a1"), ("g", 2, "a2"), ("g", 3, "a2")],
            vec![],
        ),
        (
            "reordered",
            history(base),
            vec![("g", 2, "a1"), ("g", 1, "a2")],
            vec![],
        ),
        (
            "gaps",
            history(base),
            vec![("g", 1, "a1"), ("g", 3, "a2")],
            vec![],
        ),
        (
            "missing deliveries",
            history(base),
            both.to_vec(),
            vec![("g", 1, "a1")],
        ),
        (
            "wrong deliveries",
            history(base),
            both.to_vec(),
            vec![("g", 1, "a1"), ("g", 2, "a1")],
        ),
        (
            "leaks",
            history(base),
            both.to_vec(),
            vec![("g", 1, "a1"), ("g", 2, "a2"), ("h", 1, "z")],
        ),
        (
            "pending",
            {
                let mut ops = history(base);
                ops[1].acked = None;
                ops
            },
            both.to_vec(),
            both.to_vec(),
        ),
        (
            "unexpected",
            {
                let mut ops = history(base);
                ops[1].acked = None;
                ops[1].failed = Some("FORBIDDEN".to_owned());
                ops
            },
            both.to_vec(),
            both.to_vec(),
        ),
    ];
    for (broken, ops, rows, saw) in cases {
        let verdict = run(&ops, &rows, &saw, &g);
        let problems = verdict.problems();
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with(&format!("{broken}:"))),
            "{broken}: {problems:?}"
        );
    }
}

#[test]
fn sends_outstanding_together_may_be_stored_in_either_order() {
    // a2 was invoked before a1's ack arrived: both orders are correct.
    let base = Instant::now();
    let mut ops = history(base);
    ops[1].invoked = at(base, 5);
    let rows = [("g", 2, "a1"), ("g", 1, "a2")];
    ops[0].acked = Some((2, at(base, 10)));
    ops[1].acked = Some((1, at(base, 30)));
    let verdict = run(&ops, &rows, &rows, &["g".to_owned()]);
    assert!(verdict.problems().is_empty(), "{verdict:?}");
}
