//! The use cases, apart from any transport: REST handlers and WebSocket events both call these,
//! so each action has one path: `send` (validate, limit, queue on the conversation's lane, one
//! mapping of every outcome to the catalog) and `change` (edits, deletes, reactions). The doors
//! only parse their input and render the answer.

pub(crate) mod change;
pub(crate) mod send;
