//! The authorisation model (issue 20): proptest generates sequences of operations by four users
//! over two groups, a DM and a stranger's group (whose ids they only know), through every REST
//! endpoint that takes a conversation or message id and through the WebSocket deliveries: sends,
//! history, the conversation and its members, adds, removals, leaving, role changes, edits,
//! deletes, receipts and search. Each answer is compared with a model of who may see and do what
//! (membership, and `shared::policy` for roles); at the end of each case every user's text
//! deliveries must be exactly the messages of conversations they were in when each was sent.
//! A mismatch is a leak (something reached a non-member) or a wrong refusal (a member was turned
//! away); proptest shrinks it and saves its seed in `tests/authz_model.proptest-regressions`.
//! `PARLEY_AUTHZ_OPS` sets how many operations run (2,000 in `make test`, 100,000 in
//! `make chaos`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use hyper::Method;
use parley_shared::policy::{Action, ConversationKind, Role, allowed};
use parley_testkit::TestGateway;
use parley_testkit::api::{Api, TestUser};
use parley_testkit::ws::WsClient;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use serde_json::{Value, json};

mod authz;
use authz::{Op, op};

use authz::USERS;
const OPS_PER_CASE: usize = 40;

/// What the model knows of one conversation.
#[derive(Debug, Clone)]
struct Conv {
    id: String,
    kind: ConversationKind,
    members: BTreeMap<usize, Role>,
}

#[derive(Debug, Clone)]
struct Msg {
    id: String,
    conv: usize,
    sender: usize,
    deleted: bool,
}

struct World<'a> {
    api: Api,
    users: &'a [TestUser],
    convs: Vec<Conv>,
    msgs: Vec<Msg>,
    /// Who must receive each text message: the members when it was sent.
    recipients: BTreeMap<String, BTreeSet<usize>>,
    word: String,
    sent: usize,
    /// Answers seen, by status (what the model expected, since they matched).
    statuses: BTreeMap<u16, usize>,
}

fn fail(message: String) -> TestCaseError {
    TestCaseError::fail(message)
}

impl World<'_> {
    fn role(&self, c: usize, u: usize) -> Option<Role> {
        self.convs[c].members.get(&u).copied()
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        u: usize,
        body: Option<Value>,
    ) -> Result<(u16, Value), TestCaseError> {
        let r = self
            .api
            .send(method, path, Some(&self.users[u]), body.as_ref())
            .await
            .map_err(|e| fail(format!("{path}: {e}")))?;
        Ok((r.status.as_u16(), r.body))
    }

    fn expect(
        &mut self,
        what: &str,
        got: u16,
        want: u16,
        body: &Value,
    ) -> Result<(), TestCaseError> {
        if got == want {
            *self.statuses.entry(got).or_default() += 1;
            return Ok(());
        }
        let kind = if want >= 400 {
            "LEAK (allowed what the model refuses)"
        } else {
            "WRONG REFUSAL"
        };
        Err(fail(format!(
            "{kind}: {what}: got {got}, model says {want}: {body}"
        )))
    }

    /// 200/201/204 for a member, 404 for anyone else; `who` names the op for the report.
    fn member_status(&self, c: usize, u: usize, ok: u16) -> u16 {
        if self.role(c, u).is_some() { ok } else { 404 }
    }

    async fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let what = format!("{op:?}");
        match *op {
            Op::Send { c, u } => {
                self.sent += 1;
                let content = format!("{} n{}", self.word, self.sent);
                let path = format!("/api/conversations/{}/messages", self.convs[c].id);
                let body = json!({"clientMessageId": format!("{}-m{}", self.word, self.sent), "content": content});
                let (status, body) = self.call(Method::POST, &path, u, Some(body)).await?;
                self.expect(&what, status, self.member_status(c, u, 201), &body)?;
                if status == 201 {
                    let id = body["data"]["id"].as_str().unwrap_or_default().to_owned();
                    self.recipients
                        .insert(id.clone(), self.convs[c].members.keys().copied().collect());
                    self.msgs.push(Msg {
                        id,
                        conv: c,
                        sender: u,
                        deleted: false,
                    });
                }
            }
            Op::History { c, u } | Op::Get { c, u } | Op::Members { c, u } => {
                let base = format!("/api/conversations/{}", self.convs[c].id);
                let path = match op {
                    Op::History { .. } => format!("{base}/messages?limit=100"),
                    Op::Members { .. } => format!("{base}/members"),
                    _ => base,
                };
                let (status, body) = self.call(Method::GET, &path, u, None).await?;
                self.expect(&what, status, self.member_status(c, u, 200), &body)?;
                if matches!(op, Op::History { .. }) && status == 200 {
                    for m in body["data"].as_array().into_iter().flatten() {
                        if m["conversationId"] != self.convs[c].id.as_str() {
                            return Err(fail(format!("LEAK: {what} returned {m}")));
                        }
                    }
                }
            }
            Op::Add { c, actor, target } => {
                if self.role(c, target).is_some() {
                    return Ok(());
                }
                let path = format!("/api/conversations/{}/members", self.convs[c].id);
                let body = json!({"userId": self.users[target].id});
                let (status, body) = self.call(Method::POST, &path, actor, Some(body)).await?;
                let want = match self.role(c, actor) {
                    None => 404,
                    Some(role) => match allowed(
                        self.convs[c].kind,
                        role,
                        Action::AddMember { role: Role::Member },
                    ) {
                        Ok(()) => 201,
                        Err(_) => 403,
                    },
                };
                self.expect(&what, status, want, &body)?;
                if status == 201 {
                    self.convs[c].members.insert(target, Role::Member);
                }
            }
            Op::Remove { c, actor, target } => {
                let (Some(target_role), true) = (self.role(c, target), actor != target) else {
                    return Ok(());
                };
                let path = format!(
                    "/api/conversations/{}/members/{}",
                    self.convs[c].id, self.users[target].id
                );
                let (status, body) = self.call(Method::DELETE, &path, actor, None).await?;
                let want = match self.role(c, actor) {
                    None => 404,
                    Some(role) => match allowed(
                        self.convs[c].kind,
                        role,
                        Action::RemoveMember {
                            target: target_role,
                        },
                    ) {
                        Ok(()) => 204,
                        Err(_) => 403,
                    },
                };
                self.expect(&what, status, want, &body)?;
                if status == 204 {
                    self.convs[c].members.remove(&target);
                }
            }
            Op::Leave { c, u } => {
                if self.role(c, u) == Some(Role::Owner) {
                    return Ok(());
                }
                let path = format!(
                    "/api/conversations/{}/members/{}",
                    self.convs[c].id, self.users[u].id
                );
                let (status, body) = self.call(Method::DELETE, &path, u, None).await?;
                self.expect(&what, status, self.member_status(c, u, 204), &body)?;
                if status == 204 {
                    self.convs[c].members.remove(&u);
                }
            }
            Op::SetRole {
                c,
                actor,
                target,
                admin,
            } => {
                let (Some(target_role), true) = (self.role(c, target), actor != target) else {
                    return Ok(());
                };
                let to = if admin { Role::Admin } else { Role::Member };
                let path = format!(
                    "/api/conversations/{}/members/{}",
                    self.convs[c].id, self.users[target].id
                );
                let body = json!({"role": if admin { "admin" } else { "member" }});
                let (status, body) = self.call(Method::PATCH, &path, actor, Some(body)).await?;
                let want = match self.role(c, actor) {
                    None => 404,
                    Some(role) => match allowed(
                        self.convs[c].kind,
                        role,
                        Action::SetRole {
                            target: target_role,
                            to,
                        },
                    ) {
                        Ok(()) => 200,
                        Err(_) => 403,
                    },
                };
                self.expect(&what, status, want, &body)?;
                if status == 200 {
                    self.convs[c].members.insert(target, to);
                }
            }
            Op::Edit { m, u } | Op::Delete { m, u } | Op::Receipts { m, u } => {
                let Some(msg) = self.msgs.get(m % self.msgs.len().max(1)).cloned() else {
                    return Ok(());
                };
                if msg.deleted {
                    return Ok(());
                }
                let path = format!("/api/messages/{}", msg.id);
                let member = self.role(msg.conv, u);
                let (status, body, want) = match op {
                    Op::Edit { .. } => {
                        let (s, b) = self
                            .call(
                                Method::PATCH,
                                &path,
                                u,
                                Some(json!({"content": format!("{} edited", self.word)})),
                            )
                            .await?;
                        let want = match member {
                            None => 404,
                            Some(_) if msg.sender == u => 200,
                            Some(_) => 403,
                        };
                        (s, b, want)
                    }
                    Op::Delete { .. } => {
                        let (s, b) = self.call(Method::DELETE, &path, u, None).await?;
                        let group = self.convs[msg.conv].kind == ConversationKind::Group;
                        let want = match member {
                            None => 404,
                            Some(_) if msg.sender == u => 200,
                            Some(Role::Owner | Role::Admin) if group => 200,
                            Some(_) => 403,
                        };
                        (s, b, want)
                    }
                    _ => {
                        let (s, b) = self
                            .call(Method::GET, &format!("{path}/receipts"), u, None)
                            .await?;
                        (s, b, if member.is_some() { 200 } else { 404 })
                    }
                };
                self.expect(&what, status, want, &body)?;
                if matches!(op, Op::Delete { .. })
                    && status == 200
                    && let Some(stored) = self.msgs.iter_mut().find(|x| x.id == msg.id)
                {
                    stored.deleted = true;
                }
            }
            Op::Search { u } => {
                let path = format!("/api/search/messages?q={}&limit=50", self.word);
                let (status, body) = self.call(Method::GET, &path, u, None).await?;
                self.expect(&what, status, 200, &body)?;
                for hit in body["data"].as_array().into_iter().flatten() {
                    let conv = hit["message"]["conversationId"]
                        .as_str()
                        .unwrap_or_default();
                    let c = self.convs.iter().position(|x| x.id == conv);
                    if c.is_none_or(|c| self.role(c, u).is_none()) {
                        return Err(fail(format!("LEAK: {what} found {hit}")));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Runs one case: a fresh world, the ops, then every user's deliveries.
/// What every case so far sent, and to whom: a delivery that arrives late, in a later case, is
/// still checked against who it was for.
type Sent = BTreeMap<String, BTreeSet<usize>>;

async fn case(
    api: Api,
    users: &[TestUser],
    stranger: &TestUser,
    sockets: &mut [WsClient],
    all: &mut Sent,
    statuses: &mut BTreeMap<u16, usize>,
    (n, ops): (usize, &[Op]),
) -> Result<usize, TestCaseError> {
    let setup = |e: anyhow::Error| fail(format!("set-up: {e}"));
    let word = format!("authzcase{n}x{}", std::process::id());
    let g0 = api
        .group(&users[0], &format!("g0 {word}"), &[&users[1]])
        .await
        .map_err(setup)?;
    let g1 = api
        .group(&users[1], &format!("g1 {word}"), &[&users[2], &users[3]])
        .await
        .map_err(setup)?;
    let dm = api.dm(&users[0], &users[2]).await.map_err(setup)?;
    let strange = api
        .group(stranger, &format!("s {word}"), &[])
        .await
        .map_err(setup)?;
    api.say(stranger, &strange, n, &format!("{word} secret"))
        .await
        .map_err(setup)?;
    let roles = |list: &[(usize, Role)]| list.iter().copied().collect::<BTreeMap<_, _>>();
    let mut world = World {
        api,
        users,
        convs: vec![
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
            // One DM per pair: earlier cases' messages are in it too (the model does not list it).
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
        ],
        msgs: Vec::new(),
        recipients: BTreeMap::new(),
        word,
        sent: 0,
        statuses: BTreeMap::new(),
    };
    for op in ops {
        world.apply(op).await?;
    }
    all.extend(
        world
            .recipients
            .iter()
            .map(|(id, to)| (id.clone(), to.clone())),
    );
    for (status, count) in &world.statuses {
        *statuses.entry(*status).or_default() += count;
    }
    // Deliveries: each text message reached exactly the members it was sent to. Read until every
    // expected one is in (or 5 s passed); a leak that arrives later is caught in a later case.
    for (u, socket) in sockets.iter_mut().enumerate() {
        // Also keeps the socket from being closed as silent over a long run.
        socket
            .send(&json!({"event": "ping", "id": "keep"}))
            .await
            .map_err(|e| fail(format!("socket: {e}")))?;
        let expected: BTreeSet<&String> = world
            .recipients
            .iter()
            .filter(|(_, to)| to.contains(&u))
            .map(|(id, _)| id)
            .collect();
        let mut got = BTreeSet::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            socket
                .drain_for(Duration::from_millis(20))
                .await
                .map_err(|e| fail(format!("socket: {e}")))?;
            got.extend(
                socket
                    .take_all()
                    .into_iter()
                    .filter(|f| {
                        f["event"] == "message:received"
                            && f["data"]["message"]["contentType"] == "text"
                    })
                    .filter(|f| {
                        f["data"]["message"]["content"]
                            .as_str()
                            .is_some_and(|t| t.starts_with("authzcase"))
                    })
                    .map(|f| {
                        f["data"]["message"]["id"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned()
                    }),
            );
            let complete = expected.iter().all(|id| got.contains(*id));
            if complete || tokio::time::Instant::now() > deadline {
                break;
            }
        }
        if let Some(missing) = expected.iter().find(|id| !got.contains(**id)) {
            return Err(fail(format!(
                "WRONG REFUSAL: user {u} never received {missing}"
            )));
        }
        for id in &got {
            match all.get(id) {
                Some(to) if to.contains(&u) => {}
                Some(to) => {
                    return Err(fail(format!(
                        "LEAK: user {u} received {id}, sent to {to:?}"
                    )));
                }
                None => {
                    return Err(fail(format!(
                        "LEAK: user {u} received {id}, which nobody sent to them"
                    )));
                }
            }
        }
    }
    Ok(ops.len())
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
        c.limits.send = "1000000/1m".parse().expect("rate");
        c.limits.ws_connect = "100000/1m".parse().expect("rate");
        c.chat.max_group_members = 50;
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
    let all = std::cell::RefCell::new(Sent::new());
    let statuses = std::cell::RefCell::new(BTreeMap::new());
    let result = runner.run(&proptest::collection::vec(op(), OPS_PER_CASE), |ops| {
        runs.set(runs.get() + 1);
        let (mut sockets, mut all) = (sockets.borrow_mut(), all.borrow_mut());
        let mut statuses = statuses.borrow_mut();
        let args = (runs.get(), ops.as_slice());
        let done = runtime.block_on(case(
            api,
            &users,
            &stranger,
            &mut sockets,
            &mut all,
            &mut statuses,
            args,
        ))?;
        ran.set(ran.get() + done);
        Ok(())
    });
    // The run's summary, for `make chaos`'s report.
    eprintln!(
        "authorisation model: {} operations generated in {} runs (cases and shrinking), {} \
         answers checked (the rest did not apply: e.g. adding a member already in), by status \
         {:?}, {} messages' deliveries checked: {result:?}",
        ran.get(),
        runs.get(),
        statuses.borrow().values().sum::<usize>(),
        statuses.borrow(),
        all.borrow().len()
    );
    result.map_err(|e| anyhow::anyhow!("{e}"))
}
