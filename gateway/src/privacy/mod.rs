//! Data protection: deleting an account (`erase`), and a user's export of their data (`export`:
//! the archive, written the same way into the database's parts for a download or into a file for
//! `parley admin export`).

pub(crate) mod erase;
pub(crate) mod export;
