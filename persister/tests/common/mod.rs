//! Helpers the persister's integration tests share.

use parley_persister::store::Conn;
use parley_persister::store::users::{self, NewUser};
use parley_shared::UserId;

/// Creates `n` users named `{prefix}0`, `{prefix}1`, ...; returns their ids in that order.
pub(crate) async fn create_users(
    conn: &Conn,
    prefix: &str,
    n: usize,
) -> anyhow::Result<Vec<UserId>> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("{prefix}{i}");
        let user = users::create(
            conn,
            &NewUser {
                id: UserId::generate(),
                username: &name,
                display_name: &name,
                email: None,
                password_hash: "x",
            },
        )
        .await?;
        ids.push(user.id);
    }
    Ok(ids)
}
