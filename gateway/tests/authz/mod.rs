//! The operations the authorisation model (`authz_model.rs`) generates: which user does what to
//! which conversation (by index: two groups, a DM, a stranger's group) or message.

use proptest::prelude::*;

/// Users the model acts as.
pub(crate) const USERS: usize = 4;

#[derive(Debug, Clone)]
pub(crate) enum Op {
    Send {
        c: usize,
        u: usize,
    },
    History {
        c: usize,
        u: usize,
    },
    Get {
        c: usize,
        u: usize,
    },
    Members {
        c: usize,
        u: usize,
    },
    Add {
        c: usize,
        actor: usize,
        target: usize,
    },
    Remove {
        c: usize,
        actor: usize,
        target: usize,
    },
    Leave {
        c: usize,
        u: usize,
    },
    SetRole {
        c: usize,
        actor: usize,
        target: usize,
        admin: bool,
    },
    Edit {
        m: usize,
        u: usize,
    },
    Delete {
        m: usize,
        u: usize,
    },
    Receipts {
        m: usize,
        u: usize,
    },
    Search {
        u: usize,
    },
}

pub(crate) fn op() -> impl Strategy<Value = Op> {
    let u = 0..USERS;
    let c = 0..4usize;
    let g = 0..2usize;
    prop_oneof![
        4 => (c.clone(), u.clone()).prop_map(|(c, u)| Op::Send { c, u }),
        2 => (c.clone(), u.clone()).prop_map(|(c, u)| Op::History { c, u }),
        1 => (c.clone(), u.clone()).prop_map(|(c, u)| Op::Get { c, u }),
        1 => (c, u.clone()).prop_map(|(c, u)| Op::Members { c, u }),
        2 => (g.clone(), u.clone(), u.clone()).prop_map(|(c, actor, target)| Op::Add { c, actor, target }),
        2 => (g.clone(), u.clone(), u.clone()).prop_map(|(c, actor, target)| Op::Remove { c, actor, target }),
        1 => (g.clone(), u.clone()).prop_map(|(c, u)| Op::Leave { c, u }),
        1 => (g, u.clone(), u.clone(), any::<bool>())
            .prop_map(|(c, actor, target, admin)| Op::SetRole { c, actor, target, admin }),
        2 => (0..64usize, u.clone()).prop_map(|(m, u)| Op::Edit { m, u }),
        2 => (0..64usize, u.clone()).prop_map(|(m, u)| Op::Delete { m, u }),
        1 => (0..64usize, u.clone()).prop_map(|(m, u)| Op::Receipts { m, u }),
        1 => u.prop_map(|u| Op::Search { u }),
    ]
}
