//! The operations the authorisation model (`authz_model.rs`) generates: which user does what to
//! which conversation (by index: two groups, a DM, a stranger's group), message or attachment (by
//! index into those sent so far, the stranger's included), over REST or the user's WebSocket.

use proptest::prelude::*;

pub(crate) mod deliveries;
pub(crate) mod rest;
pub(crate) mod world;
pub(crate) mod ws;

/// Users the model acts as (the stranger is user `USERS`, whose ids they only know).
pub(crate) const USERS: usize = 4;
/// Conversations per case: two groups, the DM of users 0 and 2, the stranger's group.
pub(crate) const CONVS: usize = 4;
/// The index of the stranger's group.
pub(crate) const STRANGE: usize = 3;

/// A read of a conversation over REST that members may make and nobody else.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ConvRead {
    History,
    Get,
    Members,
    Notifications,
}

/// A change to a conversation over REST, refused by role (`shared::policy`) or membership.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ConvChange {
    /// `PATCH /api/conversations/{id}` (a new name).
    Rename,
    /// `PUT .../retention {messages: null}`.
    Retention,
    /// `PUT .../notifications` (any member, for themselves).
    Notifications,
    /// `DELETE /api/conversations/{id}`.
    Delete,
}

/// A change to a message, over REST or the WebSocket.
#[derive(Debug, Clone, Copy)]
pub(crate) enum MsgChange {
    Edit,
    Delete,
    React,
}

/// A request about a message that members may make (receipts, reports) or only server admins.
#[derive(Debug, Clone, Copy)]
pub(crate) enum MsgAsk {
    Receipts,
    Report,
    /// `DELETE /api/admin/messages/{id}`: the model's users are not server admins.
    AdminDelete,
}

/// A WebSocket event about a conversation that is not a send.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ConvEvent {
    /// `subscribe` (answered `subscribed`, or `error NOT_FOUND`).
    Subscribe,
    /// `typing:start`: only on a subscribed connection.
    Typing,
    /// `receipt:read`: answered only when refused, after the coalesced write.
    Mark,
    /// `sync:request` from seq 0.
    Sync,
    /// `focus`: answered only when refused.
    Focus,
}

/// Another user's object, asked for by id: each answers 404 (or 403 for admin routes).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Foreign {
    /// `DELETE /api/auth/sessions/{their session}`.
    Session,
    /// `GET /api/users/me/exports/{user 0's export}/download`.
    Export,
    /// `GET /api/admin/users/{id}`.
    AdminUser,
}

#[derive(Debug, Clone)]
pub(crate) enum Op {
    Send {
        c: usize,
        u: usize,
        ws: bool,
    },
    Read {
        c: usize,
        u: usize,
        what: ConvRead,
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
    Change {
        c: usize,
        actor: usize,
        what: ConvChange,
    },
    Message {
        m: usize,
        u: usize,
        what: MsgChange,
        ws: bool,
    },
    Ask {
        m: usize,
        u: usize,
        what: MsgAsk,
    },
    Search {
        u: usize,
    },
    /// Upload a file and send it in `c`.
    Attach {
        c: usize,
        u: usize,
    },
    /// `GET /api/attachments/{id}`.
    Fetch {
        a: usize,
        u: usize,
    },
    Block {
        u: usize,
        target: usize,
        on: bool,
    },
    Event {
        c: usize,
        u: usize,
        what: ConvEvent,
    },
    /// `presence:subscribe` to these users (the stranger included).
    Presence {
        u: usize,
        targets: Vec<usize>,
    },
    Foreign {
        u: usize,
        owner: usize,
        what: Foreign,
    },
}

pub(crate) fn op() -> impl Strategy<Value = Op> {
    let u = 0..USERS;
    let c = 0..CONVS;
    let g = 0..2usize;
    let m = 0..64usize;
    let conv_read = prop_oneof![
        Just(ConvRead::History),
        Just(ConvRead::Get),
        Just(ConvRead::Members),
        Just(ConvRead::Notifications),
    ];
    let conv_change = prop_oneof![
        4 => Just(ConvChange::Rename),
        2 => Just(ConvChange::Retention),
        3 => Just(ConvChange::Notifications),
        1 => Just(ConvChange::Delete),
    ];
    let msg_change = prop_oneof![
        Just(MsgChange::Edit),
        Just(MsgChange::Delete),
        Just(MsgChange::React),
    ];
    let msg_ask = prop_oneof![
        Just(MsgAsk::Receipts),
        Just(MsgAsk::Report),
        Just(MsgAsk::AdminDelete),
    ];
    let conv_event = prop_oneof![
        3 => Just(ConvEvent::Subscribe),
        3 => Just(ConvEvent::Typing),
        2 => Just(ConvEvent::Mark),
        1 => Just(ConvEvent::Sync),
        1 => Just(ConvEvent::Focus),
    ];
    let foreign = prop_oneof![
        Just(Foreign::Session),
        Just(Foreign::Export),
        Just(Foreign::AdminUser),
    ];
    prop_oneof![
        5 => (c.clone(), u.clone(), any::<bool>()).prop_map(|(c, u, ws)| Op::Send { c, u, ws }),
        3 => (c.clone(), u.clone(), conv_read).prop_map(|(c, u, what)| Op::Read { c, u, what }),
        2 => (g.clone(), u.clone(), u.clone()).prop_map(|(c, actor, target)| Op::Add { c, actor, target }),
        2 => (g.clone(), u.clone(), u.clone()).prop_map(|(c, actor, target)| Op::Remove { c, actor, target }),
        1 => (g.clone(), u.clone()).prop_map(|(c, u)| Op::Leave { c, u }),
        1 => (g, u.clone(), u.clone(), any::<bool>())
            .prop_map(|(c, actor, target, admin)| Op::SetRole { c, actor, target, admin }),
        2 => (c.clone(), u.clone(), conv_change).prop_map(|(c, actor, what)| Op::Change { c, actor, what }),
        4 => (m.clone(), u.clone(), msg_change, any::<bool>())
            .prop_map(|(m, u, what, ws)| Op::Message { m, u, what, ws }),
        2 => (m, u.clone(), msg_ask).prop_map(|(m, u, what)| Op::Ask { m, u, what }),
        1 => u.clone().prop_map(|u| Op::Search { u }),
        1 => (c.clone(), u.clone()).prop_map(|(c, u)| Op::Attach { c, u }),
        1 => (0..8usize, u.clone()).prop_map(|(a, u)| Op::Fetch { a, u }),
        1 => (u.clone(), u.clone(), any::<bool>()).prop_map(|(u, target, on)| Op::Block { u, target, on }),
        4 => (c, u.clone(), conv_event).prop_map(|(c, u, what)| Op::Event { c, u, what }),
        1 => (u.clone(), proptest::collection::vec(0..=USERS, 1..4))
            .prop_map(|(u, targets)| Op::Presence { u, targets }),
        1 => (u.clone(), u, foreign).prop_map(|(u, owner, what)| Op::Foreign { u, owner, what }),
    ]
}
