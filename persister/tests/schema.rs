//! The schema's own guarantees, checked with plain SQL: one DM per pair, gap-free unique seqs,
//! idempotency keys scoped to the sender, content limits.

use parley_testkit::TestCluster;
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

async fn user(client: &Client, name: &str) -> anyhow::Result<Uuid> {
    let id = Uuid::now_v7();
    client
        .execute(
            "INSERT INTO users (id, username, display_name, password_hash) VALUES ($1, $2, $2, 'x')",
            &[&id, &name],
        )
        .await?;
    Ok(id)
}

fn state(result: Result<u64, tokio_postgres::Error>) -> Option<SqlState> {
    result.err().and_then(|e| e.code().cloned())
}

#[tokio::test]
async fn schema_enforces_the_domain_rules() -> anyhow::Result<()> {
    let cluster = TestCluster::migrated().await?;
    let c = cluster.client().await?;
    let alice = user(&c, "alice").await?;
    let bob = user(&c, "bob").await?;
    assert_eq!(
        state(c.execute("INSERT INTO users (id, username, display_name, password_hash) VALUES (gen_random_uuid(), 'alice', 'A', 'x')", &[]).await),
        Some(SqlState::UNIQUE_VIOLATION),
        "usernames are unique"
    );
    assert_eq!(
        state(c.execute("INSERT INTO users (id, username, display_name, password_hash) VALUES (gen_random_uuid(), 'Bad Name', 'A', 'x')", &[]).await),
        Some(SqlState::CHECK_VIOLATION),
        "usernames are [a-z0-9_]{{3,32}}"
    );

    let dm = "INSERT INTO conversations (id, kind, dm_user_low, dm_user_high)
              SELECT gen_random_uuid(), 'dm', least($1::uuid, $2::uuid), greatest($1::uuid, $2::uuid)";
    assert_eq!(c.execute(dm, &[&alice, &bob]).await?, 1);
    assert_eq!(
        state(c.execute(dm, &[&bob, &alice]).await),
        Some(SqlState::UNIQUE_VIOLATION),
        "one DM per pair, whichever side opens it"
    );
    assert_eq!(
        state(
            c.execute(
                "INSERT INTO conversations (id, kind) VALUES (gen_random_uuid(), 'group')",
                &[]
            )
            .await
        ),
        Some(SqlState::CHECK_VIOLATION),
        "a group needs a name"
    );

    let conv: Uuid = c
        .query_one("SELECT id FROM conversations", &[])
        .await?
        .get(0);
    let insert =
        "INSERT INTO messages (id, conversation_id, seq, sender_id, client_message_id, content)
                  VALUES (gen_random_uuid(), $1, $2, $3, $4, $5)";
    assert_eq!(
        c.execute(insert, &[&conv, &1i64, &alice, &"c1", &"hello"])
            .await?,
        1
    );
    assert_eq!(
        state(
            c.execute(insert, &[&conv, &1i64, &bob, &"c9", &"clash"])
                .await
        ),
        Some(SqlState::UNIQUE_VIOLATION),
        "seq is unique per conversation"
    );
    assert_eq!(
        state(
            c.execute(insert, &[&conv, &2i64, &alice, &"c1", &"again"])
                .await
        ),
        Some(SqlState::UNIQUE_VIOLATION),
        "a sender's clientMessageId is unique per conversation"
    );
    assert_eq!(
        c.execute(
            insert,
            &[&conv, &2i64, &bob, &"c1", &"same key, other sender"]
        )
        .await?,
        1,
        "idempotency keys are scoped to the sender"
    );
    for bad in [String::new(), "x".repeat(4001)] {
        assert_eq!(
            state(
                c.execute(insert, &[&conv, &3i64, &alice, &"c3", &bad])
                    .await
            ),
            Some(SqlState::CHECK_VIOLATION),
            "content is 1 to 4000 characters"
        );
    }
    assert_eq!(
        c.execute(insert, &[&conv, &3i64, &alice, &"c4", &"é".repeat(4000)])
            .await?,
        1,
        "the limit counts characters, not bytes"
    );
    Ok(())
}
