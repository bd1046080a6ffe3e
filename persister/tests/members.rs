//! The lanes' membership cache against a real PostgreSQL: every membership change moves
//! `members_version` (whatever statement makes it, cascades included), and the fan-out of the next
//! message and the membership check follow each change, however small the cache.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use parley_persister::db;
use parley_persister::store::Conn;
use parley_persister::store::audit::Entry;
use parley_persister::store::conversations;
use parley_persister::writer::{
    CommitSink, GroupOp, GroupOutcome, GroupRequest, NewMessage, Outcome, Persister, SinkEvent,
    Verdict, WriterSettings,
};
use parley_shared::policy::Role;
use parley_shared::{ConversationId, MessageId, UserId};
use parley_testkit::TestCluster;

mod common;

fn settings(member_cache: usize) -> WriterSettings {
    WriterSettings {
        lanes: 1,
        queue_per_lane: 1_000,
        max_batch: 64,
        retry_backoff: vec![Duration::from_millis(100)],
        in_doubt_patience: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        search_index_interval: Duration::from_millis(50),
        search_index_batch: 1_000,
        read_flush_interval: Duration::from_millis(20),
        member_cache,
        batch_split: 128,
        metrics: Arc::default(),
    }
}

/// Records who each committed message went to.
#[derive(Default)]
struct Recipients(Mutex<Vec<(MessageId, Vec<UserId>)>>);

impl CommitSink for Recipients {
    fn publish(&self, events: Vec<SinkEvent>) {
        let mut seen = self.0.lock().expect("not poisoned");
        for event in events {
            if let SinkEvent::Committed {
                message, members, ..
            } = event
            {
                let mut members = members.to_vec();
                members.sort_by_key(|u| u.0);
                seen.push((message.id, members));
            }
        }
    }
}

impl Recipients {
    fn of(&self, id: MessageId) -> Vec<UserId> {
        let seen = self.0.lock().expect("not poisoned");
        seen.iter()
            .find(|(m, _)| *m == id)
            .map(|(_, members)| members.clone())
            .unwrap_or_default()
    }
}

fn message(conversation: ConversationId, sender: UserId, n: usize) -> NewMessage {
    NewMessage {
        id: MessageId::generate(),
        conversation_id: conversation,
        sender_id: sender,
        client_message_id: format!("m{n}"),
        content: format!("hello {n}"),
        content_type: "text".to_owned(),
        reply_to: None,
        mentions: Default::default(),
        urgent: false,
        attachments: None,
    }
}

fn group(conversation: ConversationId, actor: UserId, op: GroupOp) -> GroupRequest {
    GroupRequest {
        conversation,
        actor,
        op,
        audit: Entry::new(Some(actor), "test"),
    }
}

fn sorted(mut users: Vec<UserId>) -> Vec<UserId> {
    users.sort_by_key(|u| u.0);
    users
}

async fn version(conn: &Conn, conversation: ConversationId) -> anyhow::Result<i64> {
    let row = conn
        .query_one(
            "SELECT members_version FROM conversations WHERE id = $1",
            &[&conversation.0],
        )
        .await?;
    Ok(row.get(0))
}

#[tokio::test]
async fn every_membership_change_moves_the_version() -> anyhow::Result<()> {
    let cluster = TestCluster::migrated().await?;
    let pool = db::pool(cluster.config(), 2, Duration::from_secs(5));
    let mut conn = pool.get().await?;
    let u = common::create_users(&conn, "member", 4).await?;
    let group = conversations::create_group(&mut conn, u[0], "g", &u[1..3]).await?;
    let created = version(&conn, group.id).await?;
    assert!(created >= 1, "creating the group with its members moved it");
    conn.execute(
        "INSERT INTO conversation_members (conversation_id, user_id) VALUES ($1, $2)",
        &[&group.id.0, &u[3].0],
    )
    .await?;
    let added = version(&conn, group.id).await?;
    assert!(added > created);
    conn.execute(
        "DELETE FROM conversation_members WHERE conversation_id = $1 AND user_id = $2",
        &[&group.id.0, &u[1].0],
    )
    .await?;
    let removed = version(&conn, group.id).await?;
    assert!(removed > added);
    // Read marks and role changes leave it (they change nobody's delivery).
    conn.execute(
        "UPDATE conversation_members SET last_read_seq = 0, role = 'admin'
         WHERE conversation_id = $1 AND user_id = $2",
        &[&group.id.0, &u[2].0],
    )
    .await?;
    assert_eq!(version(&conn, group.id).await?, removed);
    // A user's deletion cascades to their memberships; the version moves with it, and deleting
    // a conversation with members still works (the trigger finds the row gone and does nothing).
    conn.execute("DELETE FROM users WHERE id = $1", &[&u[3].0])
        .await?;
    assert!(version(&conn, group.id).await? > removed);
    let deleted = conn
        .execute("DELETE FROM conversations WHERE id = $1", &[&group.id.0])
        .await?;
    assert_eq!(deleted, 1);
    Ok(())
}

#[tokio::test]
async fn the_fan_out_and_the_member_check_follow_each_change() -> anyhow::Result<()> {
    let cluster = TestCluster::migrated().await?;
    let pool = db::pool(cluster.config(), 2, Duration::from_secs(5));
    let mut conn = pool.get().await?;
    let u = common::create_users(&conn, "member", 6).await?;
    let a = conversations::create_group(&mut conn, u[0], "a", &u[1..3]).await?;
    let b = conversations::create_group(&mut conn, u[0], "b", &u[3..5]).await?;
    // A cache smaller than one group: every batch evicts what the previous one read.
    for capacity in [10_000, 2] {
        let sink = Arc::new(Recipients::default());
        let (persister, handle) =
            Persister::start(cluster.config(), settings(capacity), sink.clone())?;
        let mut n = capacity;
        let mut send = |conversation, sender| {
            n += 1;
            let m = message(conversation, sender, n);
            let id = m.id;
            (id, handle.submit(m))
        };
        // Both groups in flight at once (most likely one batch), then each again.
        let (first_a, wait_a) = send(a.id, u[0]);
        let (first_b, wait_b) = send(b.id, u[0]);
        for waiting in [wait_a?, wait_b?] {
            assert!(matches!(
                waiting.await?,
                Outcome::Stored(Verdict::Inserted(_))
            ));
        }
        assert_eq!(sink.of(first_a), sorted(u[0..3].to_vec()));
        assert_eq!(sink.of(first_b), sorted(vec![u[0], u[3], u[4]]));

        // Someone joins a (through the lane, as the gateway does it): the next message reaches
        // them too.
        let op = GroupOp::Add {
            user: u[5],
            role: Role::Member,
            max_members: 100,
        };
        assert!(matches!(
            handle.submit_group(group(a.id, u[0], op))?.await?,
            GroupOutcome::Applied(_)
        ));
        let (joined, waiting) = send(a.id, u[0]);
        assert!(matches!(
            waiting?.await?,
            Outcome::Stored(Verdict::Inserted(_))
        ));
        assert_eq!(sink.of(joined), sorted(vec![u[0], u[1], u[2], u[5]]));

        // Someone leaves a: the next message skips them, and they can no longer send.
        let op = GroupOp::Remove {
            user: u[5],
            new_owner: None,
        };
        assert!(matches!(
            handle.submit_group(group(a.id, u[0], op))?.await?,
            GroupOutcome::Applied(_)
        ));
        let (left, waiting) = send(a.id, u[1]);
        assert!(matches!(
            waiting?.await?,
            Outcome::Stored(Verdict::Inserted(_))
        ));
        assert_eq!(sink.of(left), sorted(u[0..3].to_vec()));
        let (refused, waiting) = send(a.id, u[5]);
        assert!(matches!(
            waiting?.await?,
            Outcome::Stored(Verdict::NotMember)
        ));
        assert!(sink.of(refused).is_empty());

        // The other group was not disturbed.
        let (again_b, waiting) = send(b.id, u[3]);
        assert!(matches!(
            waiting?.await?,
            Outcome::Stored(Verdict::Inserted(_))
        ));
        assert_eq!(sink.of(again_b), sorted(vec![u[0], u[3], u[4]]));
        drop(handle);
        persister.join();
    }
    Ok(())
}
