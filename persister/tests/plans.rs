//! The batch statement's generic plan, as the lanes run it (`enable_seqscan = off`,
//! `force_generic_plan`): earlier copies and reply targets are looked up by key, never by scanning
//! a conversation's messages (and mentioned names by the username key), with no statistics and
//! with a large analysed table alike.
//! Regression: a lane whose plan was made at another moment looked earlier copies up through
//! `messages_seq_key`, reading every message of the batch's conversations (200 ms commits).

use parley_persister::writer::hot::write_statement;
use parley_testkit::TestCluster;
use tokio_postgres::Client;

const ARGS: &str = "int4[], uuid[], uuid[], uuid[], text[], text[], text[], uuid[], text[], bool[], bool[], text[]";

async fn generic_plan(client: &Client, name: &str) -> anyhow::Result<String> {
    client
        .batch_execute(&format!("PREPARE {name}({ARGS}) AS {}", write_statement()))
        .await?;
    let rows = client
        .simple_query(&format!(
            "EXPLAIN (COSTS OFF) EXECUTE {name}(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"
        ))
        .await?;
    let mut plan = String::new();
    for message in rows {
        if let tokio_postgres::SimpleQueryMessage::Row(row) = message {
            plan.push_str(row.get(0).unwrap_or_default());
            plan.push('\n');
        }
    }
    Ok(plan)
}

fn check(plan: &str) {
    assert!(
        !plan.contains("messages_seq_key"),
        "no look-up scans a conversation's messages:\n{plan}"
    );
    assert!(
        plan.contains("messages_client_id_key"),
        "earlier copies are found by their key:\n{plan}"
    );
    assert!(
        plan.contains("Index Scan using messages_pkey on messages r"),
        "reply targets are found by id:\n{plan}"
    );
    assert!(
        plan.contains("Index Cond: (username = named.name)"),
        "mentioned names are found by their key:\n{plan}"
    );
    assert!(
        !plan.contains("Recheck Cond: (conversation_id = numbered.conversation_id)"),
        "a mention's membership is one key look-up, not a read of every member:\n{plan}"
    );
}

/// Ten groups of five (fifty senders) with `per_group` messages each, as `steady` makes them.
async fn fill(client: &Client, from: i64, per_group: i64) -> anyhow::Result<()> {
    client
        .batch_execute(&format!(
            "INSERT INTO users (id, username, display_name, password_hash)
             SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(u), 12, '0'))::uuid, 'user' || u,
                    'User', 'x'
             FROM generate_series(1, 50) AS u ON CONFLICT DO NOTHING;
             INSERT INTO conversations (id, kind, name)
             SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(1000 + g), 12, '0'))::uuid,
                    'group', 'g' || g
             FROM generate_series(0, 9) AS g ON CONFLICT DO NOTHING;
             INSERT INTO conversation_members (conversation_id, user_id)
             SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(1000 + (u - 1) / 5), 12, '0'))::uuid,
                    ('00000000-0000-7000-8000-' || lpad(to_hex(u), 12, '0'))::uuid
             FROM generate_series(1, 50) AS u ON CONFLICT DO NOTHING;
             INSERT INTO messages (id, conversation_id, seq, sender_id, client_message_id, content)
             SELECT gen_random_uuid(),
                    ('00000000-0000-7000-8000-' || lpad(to_hex(1000 + g), 12, '0'))::uuid, n,
                    ('00000000-0000-7000-8000-' || lpad(to_hex(g * 5 + 1 + n % 5), 12, '0'))::uuid,
                    'c' || n, 'hello ' || n
             FROM generate_series(0, 9) AS g, generate_series({from}, {from} + {per_group} - 1) AS n"
        ))
        .await?;
    Ok(())
}

#[tokio::test]
async fn the_batch_plan_looks_up_by_key_whatever_the_statistics() -> anyhow::Result<()> {
    let cluster = TestCluster::migrated().await?;
    let client = cluster.client().await?;
    client
        .batch_execute("SET enable_seqscan = off; SET plan_cache_mode = force_generic_plan")
        .await?;
    check(&generic_plan(&client, "never_analysed").await?);
    client.batch_execute("ANALYZE").await?;
    check(&generic_plan(&client, "analysed_empty").await?);
    fill(&client, 1, 20).await?;
    check(&generic_plan(&client, "small_unanalysed").await?);
    client.batch_execute("ANALYZE").await?;
    check(&generic_plan(&client, "small").await?);
    fill(&client, 21, 5000).await?;
    check(&generic_plan(&client, "large_unanalysed").await?);
    client.batch_execute("ANALYZE").await?;
    check(&generic_plan(&client, "large").await?);
    Ok(())
}
