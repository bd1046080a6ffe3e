//! Tables for the toast rules and grouping.

use std::time::{Duration, Instant};

use bytes::Bytes;
use parley_persister::store::notifications::{
    ConversationContext, ConversationPrefs, Level, ToastContext,
};
use parley_shared::{ConversationId, UserId};
use time::OffsetDateTime;

use super::{Incoming, MAX_BODY_CHARS, Toasts, body, heard};

fn prefs(level: Level, muted_for: Option<i64>) -> ConversationPrefs {
    ConversationPrefs {
        level,
        muted_until: muted_for.map(|s| OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(s)),
    }
}

#[test]
fn who_hears_a_message() {
    let now = OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(100);
    // (level, muted until (s), dnd, mentioned, urgent) -> heard
    let table = [
        ((Level::All, None, false, false, false), true),
        ((Level::All, Some(200), false, false, false), false),
        ((Level::All, Some(50), false, false, false), true), // the mute ended
        ((Level::All, None, true, false, false), false),
        ((Level::All, None, true, true, false), false), // a mention does not break DND
        ((Level::All, Some(200), true, false, true), true), // urgent breaks mute and DND
        ((Level::Mentions, None, false, false, false), false),
        ((Level::Mentions, None, false, true, false), true),
        ((Level::Mentions, Some(200), false, true, false), false),
        ((Level::Mentions, None, false, false, true), true),
        ((Level::Off, None, false, true, false), false),
        ((Level::Off, None, false, false, true), false), // off is off
    ];
    for ((level, muted, dnd, mentioned, urgent), expected) in table {
        assert_eq!(
            heard(prefs(level, muted), now, dnd, mentioned, urgent),
            expected,
            "{level:?} muted {muted:?} dnd {dnd} mentioned {mentioned} urgent {urgent}"
        );
    }
}

#[test]
fn bodies_are_cut_to_a_hundred_characters() {
    assert_eq!(body("hello"), "hello");
    let exact = "é".repeat(MAX_BODY_CHARS);
    assert_eq!(body(&exact), exact);
    let long = "é".repeat(MAX_BODY_CHARS + 1);
    let cut = body(&long);
    assert_eq!(cut.chars().count(), MAX_BODY_CHARS);
    assert!(cut.ends_with('…'));
}

fn setup(window: Duration) -> (Toasts, UserId, ConversationId) {
    let (user, conversation) = (UserId::generate(), ConversationId::generate());
    let mut toasts = Toasts::new(window);
    toasts.track(user);
    let context = ToastContext {
        conversations: vec![ConversationContext {
            conversation,
            title: "Design".to_owned(),
            prefs: ConversationPrefs::default(),
        }],
        dnd: Vec::new(),
    };
    toasts.loaded(user, context, OffsetDateTime::now_utc());
    (toasts, user, conversation)
}

/// A message object named `id` (only its bytes matter here).
fn incoming(conversation: ConversationId, id: &Bytes) -> Incoming<'_> {
    Incoming {
        conversation,
        message: id,
        mentioned: false,
        urgent: false,
    }
}

fn m(id: &'static str) -> Bytes {
    Bytes::from_static(id.as_bytes())
}

#[test]
fn rapid_messages_are_grouped_into_one_toast_per_window() {
    let window = Duration::from_secs(3);
    let (mut toasts, user, conversation) = setup(window);
    let wall = OffsetDateTime::now_utc();
    let t0 = Instant::now();
    let first = toasts.message(user, incoming(conversation, &m("m1")), t0, wall);
    let first = first.expect("the first message toasts at once");
    assert_eq!((first.title.as_str(), first.count), ("Design", 1));
    assert_eq!(first.body("hi"), "hi");
    for (i, id) in ["m2", "m3", "m4"].into_iter().enumerate() {
        let at = t0 + Duration::from_millis(100 * (i as u64 + 1));
        let message = m(id);
        assert!(
            toasts
                .message(user, incoming(conversation, &message), at, wall)
                .is_none()
        );
    }
    assert_eq!(toasts.next_due(), Some(t0 + window));
    assert!(
        toasts.due(t0 + Duration::from_secs(1)).is_empty(),
        "not yet"
    );
    let grouped = toasts.due(t0 + window);
    assert_eq!(grouped.len(), 1);
    assert_eq!((grouped[0].count, grouped[0].message.clone()), (3, m("m4")));
    assert_eq!(grouped[0].body("d"), "3 new messages");
    assert_eq!(toasts.next_due(), None);
    // The stream goes on: held for the next window, not toasted at once.
    let later = t0 + window + Duration::from_millis(10);
    assert!(
        toasts
            .message(user, incoming(conversation, &m("m5")), later, wall)
            .is_none()
    );
    assert_eq!(toasts.due(t0 + window * 2)[0].count, 1);
    // Quiet for a window: the next one toasts at once again.
    let quiet = t0 + window * 4;
    assert!(
        toasts
            .message(user, incoming(conversation, &m("m6")), quiet, wall)
            .is_some()
    );
    // Held by a window that ended before its toast went out: told with the next one.
    let (m7, m8) = (m("m7"), m("m8"));
    let soon = quiet + Duration::from_millis(10);
    assert!(
        toasts
            .message(user, incoming(conversation, &m7), soon, wall)
            .is_none()
    );
    let late = quiet + window * 2;
    let carried = toasts.message(user, incoming(conversation, &m8), late, wall);
    assert_eq!(carried.map(|t| t.count), Some(2));
}

#[test]
fn no_toast_before_the_context_nor_in_dnd_and_unknown_conversations_reload() {
    let (user, conversation) = (UserId::generate(), ConversationId::generate());
    let mut toasts = Toasts::new(Duration::from_secs(3));
    toasts.track(user);
    let (now, wall) = (Instant::now(), OffsetDateTime::now_utc());
    assert!(
        toasts
            .message(user, incoming(conversation, &m("m1")), now, wall)
            .is_none()
    );
    toasts.loaded(user, ToastContext::default(), wall);
    let toast = toasts.message(user, incoming(conversation, &m("m1")), now, wall);
    assert_eq!(toast.map(|t| t.title), Some("New message".to_owned()));
    assert_eq!(
        toasts.take_reloads(),
        vec![user],
        "an unknown conversation reloads"
    );
    toasts.status(user, true);
    let other = ConversationId::generate();
    assert!(
        toasts
            .message(user, incoming(other, &m("m2")), now, wall)
            .is_none(),
        "dnd"
    );
    toasts.status(user, false);
    let window = ToastContext {
        conversations: Vec::new(),
        dnd: vec![(
            wall - time::Duration::minutes(1),
            wall + time::Duration::minutes(1),
        )],
    };
    toasts.loaded(user, window, wall);
    assert!(
        toasts
            .message(user, incoming(other, &m("m3")), now, wall)
            .is_none(),
        "scheduled"
    );
    let after = wall + time::Duration::minutes(2);
    assert!(
        toasts
            .message(user, incoming(other, &m("m4")), now, after)
            .is_some()
    );
    toasts.forget(user);
    assert!(!toasts.tracks(user));
}

#[test]
fn urgent_messages_are_never_held() {
    let (mut toasts, user, conversation) = setup(Duration::from_secs(3));
    let (now, wall) = (Instant::now(), OffsetDateTime::now_utc());
    assert!(
        toasts
            .message(user, incoming(conversation, &m("m1")), now, wall)
            .is_some()
    );
    let m2 = m("m2");
    let urgent = Incoming {
        urgent: true,
        ..incoming(conversation, &m2)
    };
    let toast = toasts
        .message(user, urgent, now, wall)
        .expect("urgent toasts at once");
    assert!(toast.urgent);
}
