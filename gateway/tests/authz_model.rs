//! The authorisation model (issue 20): proptest generates sequences of operations by four users
//! over two groups, a DM and a stranger's group (whose ids they only know), through every REST
//! endpoint and WebSocket event that takes a conversation, message, attachment, session or export
//! id: sends (REST and WebSocket), history, the conversation, its members and notification
//! settings, adds, removals, leaving, role changes, renames, retention, deleting a group, edits,
//! deletes and reactions (both ways), receipts, reports, admin routes, search, attachments,
//! blocks, subscriptions, typing, read marks, sync, focus and presence watches. Each answer is
//! compared with a model of who may see and do what (membership, blocks, ownership, and
//! `shared::policy` for roles); at the end of each case every user's text deliveries must be
//! exactly the messages of conversations they were in when each was sent, and no frame about a
//! conversation may reach a user never let into it (`authz/deliveries.rs`). A mismatch is a leak
//! (something reached a non-member) or a wrong refusal (a member was turned away); proptest
//! shrinks it and saves its seed in `tests/authz_model.proptest-regressions`.
//! `PARLEY_AUTHZ_OPS` sets how many operations run (2,000 in `make test`, 100,000 in
//! `make chaos`).

use std::collections::BTreeMap;

use parley_shared::policy::{ConversationKind, Role};
use parley_testkit::TestGateway;
use parley_testkit::api::{Api, TestUser};
use parley_testkit::ws::WsClient;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use serde_json::json;

mod authz;
use authz::world::{Cast, Conv, Ledger, Msg, World, fail};
use authz::{Op, STRANGE, USERS, op};

const OPS_PER_CASE: usize = 40;

/// Lifts every block a user holds, opens (or finds) the DM of users 0 and 2, and resets each socket's subscriptions and focus (left by an
/// earlier case, or by a run proptest is shrinking), so the case starts from the model's state.
async fn reset(cast: &Cast<'_>, sockets: &mut [WsClient]) -> anyhow::Result<String> {
    for user in cast.users {
        let blocks = cast.api.get("/api/users/me/blocks", Some(user)).await?;
        for block in blocks.body["data"].as_array().into_iter().flatten() {
            let id = block["userId"].as_str().unwrap_or_default();
            cast.api
                .delete(&format!("/api/users/me/blocks/{id}"), Some(user))
                .await?;
        }
    }
    let dm = cast.api.dm(&cast.users[0], &cast.users[2]).await?;
    for socket in sockets.iter_mut() {
        socket
            .ask("unsubscribe", "reset", json!({"conversationId": dm}))
            .await?;
        socket
            .send(&json!({"event": "focus", "data": {"conversationId": null}}))
            .await?;
    }
    Ok(dm)
}

/// Runs one case: fresh groups, the ops, then every user's deliveries.
async fn case(
    cast: &Cast<'_>,
    sockets: &mut [WsClient],
    ledger: &mut Ledger,
    (n, ops): (usize, &[Op]),
) -> Result<usize, TestCaseError> {
    let setup = |e: anyhow::Error| fail(format!("set-up: {e}"));
    let (api, users, stranger) = (&cast.api, cast.users, cast.stranger);
    let dm = reset(cast, sockets).await.map_err(setup)?;
    let word = format!("authzcase{n}x{}", std::process::id());
    let g0 = api
        .group(&users[0], &format!("g0 {word}"), &[&users[1]])
        .await
        .map_err(setup)?;
    let g1 = api
        .group(&users[1], &format!("g1 {word}"), &[&users[2], &users[3]])
        .await
        .map_err(setup)?;
    let strange = api
        .group(stranger, &format!("s {word}"), &[])
        .await
        .map_err(setup)?;
    let secret = api
        .say(stranger, &strange, n, &format!("{word} secret"))
        .await
        .map_err(setup)?;
    let roles = |list: &[(usize, Role)]| list.iter().copied().collect::<BTreeMap<_, _>>();
    let convs = vec![
        Conv {
            id: g0,
            kind: ConversationKind::Group,
            members: roles(&[(0, Role::Owner), (1, Role::Member)]),
        },
        Conv {
            id: g1,
            kind: ConversationKind::Group,
            members: roles(&[(1, Role::Owner), (2, Role::Member), (3, Role::Member)]),
        },
        // One DM per pair: earlier cases' messages are in it too (the model does not list them).
        Conv {
            id: dm,
            kind: ConversationKind::Dm,
            members: roles(&[(0, Role::Member), (2, Role::Member)]),
        },
        Conv {
            id: strange,
            kind: ConversationKind::Group,
            members: BTreeMap::new(),
        },
    ];
    let mut world = World::new(cast, sockets, ledger, convs, word);
    world.msgs.push(Msg {
        id: secret,
        conv: STRANGE,
        sender: USERS,
        deleted: false,
    });
    for op in ops {
        world.apply(op).await?;
    }
    world.check_deliveries().await?;
    for c in 0..2 {
        if !world.gone[c] {
            let members = world.convs[c].members.keys().copied().collect();
            world.ledger.shared.push(members);
        }
    }
    Ok(ops.len())
}

/// Each user's session id and user 0's data export, for the ops that name another's.
async fn foreign_ids(api: &Api, users: &[TestUser]) -> anyhow::Result<(Vec<String>, String)> {
    let mut sessions = Vec::new();
    for user in users {
        let list = api.get("/api/auth/sessions", Some(user)).await?;
        let id = list.body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["current"] == true)
            .and_then(|s| s["id"].as_str())
            .ok_or_else(|| anyhow::anyhow!("no current session: {}", list.body))?;
        sessions.push(id.to_owned());
    }
    let export = api
        .post("/api/users/me/export", Some(&users[0]), &json!({}))
        .await?;
    let id = export.body["data"]["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("export: {} {}", export.status, export.body))?;
    Ok((sessions, id.to_owned()))
}

#[test]
fn no_leak_and_no_wrong_refusal_over_random_operations() -> anyhow::Result<()> {
    let total: usize = std::env::var("PARLEY_AUTHZ_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let gw = runtime.block_on(TestGateway::start_with(|c| {
        // Rate limits are tested elsewhere; here they would only refuse the model's pace.
        c.limits.enabled = false;
        c.chat.max_group_members = 50;
        // The sockets and tokens are made once and `make chaos`'s run outlasts the 15 minutes an
        // access token lives (the server then ends each session, as it should).
        c.auth.access_ttl = std::time::Duration::from_secs(24 * 3600);
    }))?;
    let api = gw.api();
    let (users, stranger, sockets) = runtime.block_on(async {
        let mut users = Vec::new();
        for n in 0..USERS {
            users.push(api.register(&format!("az_u{n}")).await?);
        }
        let stranger = api.register("az_stranger").await?;
        let mut sockets = Vec::new();
        for user in &users {
            sockets.push(WsClient::authed(gw.addr(), &user.access_token).await?);
        }
        anyhow::Ok((users, stranger, sockets))
    })?;
    let (sessions, export) = runtime.block_on(foreign_ids(&api, &users))?;
    let cast = Cast {
        api,
        users: &users,
        stranger: &stranger,
        sessions,
        export,
    };
    let mut runner = TestRunner::new(Config {
        cases: u32::try_from(total.div_ceil(OPS_PER_CASE)).unwrap_or(u32::MAX),
        max_shrink_iters: 200,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/authz_model.proptest-regressions",
        ))),
        ..Config::default()
    });
    let runs = std::cell::Cell::new(0usize);
    let ran = std::cell::Cell::new(0usize);
    let sockets = std::cell::RefCell::new(sockets);
    let ledger = std::cell::RefCell::new(Ledger::default());
    let result = runner.run(&proptest::collection::vec(op(), OPS_PER_CASE), |ops| {
        runs.set(runs.get() + 1);
        let (mut sockets, mut ledger) = (sockets.borrow_mut(), ledger.borrow_mut());
        let args = (runs.get(), ops.as_slice());
        let done = runtime.block_on(case(&cast, &mut sockets, &mut ledger, args))?;
        ran.set(ran.get() + done);
        Ok(())
    });
    // The run's summary, for `make chaos`'s report.
    let ledger = ledger.borrow();
    eprintln!(
        "authorisation model: {} operations generated in {} runs (cases and shrinking), {} \
         answers checked (the rest did not apply: e.g. adding a member already in), by answer \
         {:?}, {} messages' deliveries checked: {result:?}",
        ran.get(),
        runs.get(),
        ledger.answers.values().sum::<usize>(),
        ledger.answers,
        ledger.sent.len()
    );
    result.map_err(|e| anyhow::anyhow!("{e}"))
}
