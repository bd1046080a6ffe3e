//! The use cases, apart from any transport: REST handlers and WebSocket events both call these,
//! so each action has one path: `send` (validate, limit, queue on the conversation's lane, one
//! mapping of every outcome to the catalog), `change` (edits, deletes, reactions), `group` (membership, roles, names, deletion), `marks` (read
//! marks, one's own presence status) and `typing`. The doors only parse their input, check what
//! only they can (a socket's subscriptions) and render the answer.

mod attach;
pub(crate) mod change;
pub(crate) mod group;
pub(crate) mod marks;
pub(crate) mod send;
pub(crate) mod typing;
