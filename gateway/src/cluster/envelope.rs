//! The wire form of fan-out events between instances: a small JSON header (who published it,
//! what kind, its routing fields) and the already-encoded payload, so an event is encoded once by
//! its publisher and never per recipient. No I/O.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use parley_shared::{ConversationId, InstanceId, SessionId, UserId};
use serde::{Deserialize, Serialize};

use crate::fanout::Delivery;
use crate::presence::Status;
use crate::protocol as codec;
use crate::protocol::events::server;

/// The events a `Changed` delivery may carry.
const CHANGE_EVENTS: [&str; 8] = [
    server::MESSAGE_EDITED,
    server::MESSAGE_DELETED,
    server::MESSAGE_REACTED,
    server::CONVERSATION_CREATED,
    server::CONVERSATION_UPDATED,
    server::CONVERSATION_DELETED,
    server::MEMBER_ADDED,
    server::MEMBER_REMOVED,
];

/// The first bytes of every envelope (a version: a later format gets another).
const MAGIC: &[u8; 2] = b"P1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Kind {
    #[serde(rename = "m")]
    Message,
    #[serde(rename = "x")]
    Changed,
    #[serde(rename = "r")]
    Read,
    #[serde(rename = "l")]
    Left,
    #[serde(rename = "v")]
    Revoked,
    #[serde(rename = "p")]
    Presence,
    #[serde(rename = "t")]
    Ephemeral,
    #[serde(rename = "f")]
    Preferences,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    i: InstanceId,
    k: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    c: Option<ConversationId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    u: Option<UserId>,
    #[serde(default, skip_serializing_if = "is_zero")]
    q: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    l: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    r: Vec<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    e: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s: Option<SessionId>,
    /// A message's mentions by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    m: Vec<UserId>,
    /// A message mentions everyone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    a: bool,
    /// A message is urgent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    g: bool,
    /// Read notices: (user, frame text).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    n: Vec<(UserId, String)>,
}

fn is_zero(value: &i64) -> bool {
    *value == 0
}

/// Why an envelope was not understood (from another version, or corrupt).
#[derive(Debug, thiserror::Error)]
pub(crate) enum EnvelopeError {
    #[error("not a Parley envelope")]
    Magic,
    #[error("truncated envelope")]
    Truncated,
    #[error("bad envelope header: {0}")]
    Header(#[from] serde_json::Error),
    #[error("envelope field missing: {0}")]
    Missing(&'static str),
    #[error("unknown event name in envelope")]
    Event,
    #[error("envelope frame is not UTF-8")]
    Utf8,
}

/// A decoded envelope.
#[derive(Debug)]
pub(crate) struct Received {
    /// The instance that published it.
    pub(crate) from: InstanceId,
    pub(crate) delivery: Arc<Delivery>,
}

fn header(instance: InstanceId, kind: Kind) -> Header {
    Header {
        i: instance,
        k: kind,
        c: None,
        u: None,
        q: 0,
        l: 0,
        r: Vec::new(),
        e: None,
        s: None,
        n: Vec::new(),
        m: Vec::new(),
        a: false,
        g: false,
    }
}

/// The envelope of `delivery` published by `instance`; `None` for what only concerns this
/// instance (answers to its own connections).
pub(crate) fn encode(instance: InstanceId, delivery: &Delivery) -> Option<Bytes> {
    let (head, payload): (Header, &[u8]) = match delivery {
        Delivery::Message {
            conversation,
            sender,
            seq,
            recipients,
            mentions,
            everyone,
            urgent,
            message_json,
            ..
        } => {
            let mut h = header(instance, Kind::Message);
            h.g = *urgent;
            h.c = Some(*conversation);
            h.u = Some(*sender);
            h.q = *seq;
            h.r = recipients.to_vec();
            h.m = mentions.clone();
            h.a = *everyone;
            (h, message_json)
        }
        Delivery::Changed {
            recipients,
            event,
            data,
            ..
        } => {
            let mut h = header(instance, Kind::Changed);
            h.r = recipients.to_vec();
            h.e = Some((*event).to_owned());
            (h, data)
        }
        Delivery::Read {
            conversation,
            reader,
            seq,
            last_seq,
            notices,
        } => {
            let mut h = header(instance, Kind::Read);
            h.c = Some(*conversation);
            h.u = Some(*reader);
            h.q = *seq;
            h.l = *last_seq;
            h.n = notices
                .iter()
                .map(|(user, frame)| (*user, String::from_utf8_lossy(frame).into_owned()))
                .collect();
            (h, &[])
        }
        Delivery::Left { conversation, user } => {
            let mut h = header(instance, Kind::Left);
            h.c = Some(*conversation);
            h.u = Some(*user);
            (h, &[])
        }
        Delivery::Preferences { user } => {
            let mut h = header(instance, Kind::Preferences);
            h.u = Some(*user);
            (h, &[])
        }
        Delivery::Revoked { user, session } => {
            let mut h = header(instance, Kind::Revoked);
            h.u = Some(*user);
            h.s = Some(*session);
            (h, &[])
        }
        Delivery::Presence {
            user,
            status,
            frame,
        } => {
            let mut h = header(instance, Kind::Presence);
            h.u = Some(*user);
            h.e = Some(status.as_str().to_owned());
            (h, frame)
        }
        Delivery::Ephemeral {
            conversation,
            user,
            frame,
        } => {
            let mut h = header(instance, Kind::Ephemeral);
            h.c = Some(*conversation);
            h.u = Some(*user);
            (h, frame)
        }
        Delivery::Reply { .. } => return None,
    };
    let head = serde_json::to_vec(&head).expect("envelope headers serialise infallibly");
    let mut out = BytesMut::with_capacity(6 + head.len() + payload.len());
    out.put_slice(MAGIC);
    out.put_u32(u32::try_from(head.len()).expect("an envelope header is far below 4 GiB"));
    out.put_slice(&head);
    out.put_slice(payload);
    Some(out.freeze())
}

/// Reads an envelope published by any instance (this one included).
pub(crate) fn decode(bytes: &Bytes) -> Result<Received, EnvelopeError> {
    if bytes.len() < 6 || &bytes[..2] != MAGIC {
        return Err(if bytes.len() < 6 {
            EnvelopeError::Truncated
        } else {
            EnvelopeError::Magic
        });
    }
    let len = u32::from_be_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]) as usize;
    let end = 6usize.checked_add(len).ok_or(EnvelopeError::Truncated)?;
    if bytes.len() < end {
        return Err(EnvelopeError::Truncated);
    }
    let h: Header = serde_json::from_slice(&bytes[6..end])?;
    let payload = bytes.slice(end..);
    let conversation = || h.c.ok_or(EnvelopeError::Missing("c"));
    let user = || h.u.ok_or(EnvelopeError::Missing("u"));
    let delivery = match h.k {
        Kind::Message => Delivery::Message {
            conversation: conversation()?,
            sender: user()?,
            seq: h.q,
            recipients: h.r.into(),
            mentions: h.m,
            everyone: h.a,
            urgent: h.g,
            received: codec::encode_received(&payload),
            message_json: payload,
            origin: None,
            committed_at: None,
        },
        Kind::Changed => {
            let name = h.e.as_deref().ok_or(EnvelopeError::Missing("e"))?;
            let event = CHANGE_EVENTS
                .iter()
                .copied()
                .find(|known| *known == name)
                .ok_or(EnvelopeError::Event)?;
            Delivery::Changed {
                recipients: h.r.into(),
                event,
                frame: codec::encode_raw(event, None, &payload),
                data: payload,
                origin: None,
            }
        }
        Kind::Read => Delivery::Read {
            conversation: conversation()?,
            reader: user()?,
            seq: h.q,
            last_seq: h.l,
            notices: h
                .n
                .into_iter()
                .map(|(user, frame)| (user, Bytes::from(frame)))
                .collect(),
        },
        Kind::Left => Delivery::Left {
            conversation: conversation()?,
            user: user()?,
        },
        Kind::Preferences => Delivery::Preferences { user: user()? },
        Kind::Revoked => Delivery::Revoked {
            user: user()?,
            session: h.s.ok_or(EnvelopeError::Missing("s"))?,
        },
        Kind::Presence => Delivery::Presence {
            user: user()?,
            status: h
                .e
                .as_deref()
                .and_then(Status::published)
                .ok_or(EnvelopeError::Missing("e"))?,
            frame: payload,
        },
        Kind::Ephemeral => Delivery::Ephemeral {
            conversation: conversation()?,
            user: user()?,
            frame: payload,
        },
    };
    if let Delivery::Presence { frame, .. } | Delivery::Ephemeral { frame, .. } = &delivery
        && std::str::from_utf8(frame).is_err()
    {
        return Err(EnvelopeError::Utf8);
    }
    Ok(Received {
        from: h.i,
        delivery: Arc::new(delivery),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(delivery: &Delivery) -> Received {
        let instance = InstanceId::generate();
        let bytes = encode(instance, delivery).expect("published");
        let received = decode(&bytes).expect("decodes");
        assert_eq!(received.from, instance);
        received
    }

    #[test]
    fn messages_keep_their_routing_and_payload() {
        let (c, u, v) = (
            ConversationId::generate(),
            UserId::generate(),
            UserId::generate(),
        );
        let json = Bytes::from_static(br#"{"id":"m","seq":7}"#);
        let sent = Delivery::Message {
            conversation: c,
            sender: u,
            seq: 7,
            recipients: vec![u, v].into(),
            mentions: vec![v],
            everyone: true,
            urgent: true,
            received: codec::encode_received(&json),
            message_json: json.clone(),
            origin: None,
            committed_at: None,
        };
        let Delivery::Message {
            conversation,
            sender,
            seq,
            recipients,
            mentions,
            everyone,
            urgent,
            received,
            message_json,
            origin,
            ..
        } = &*round_trip(&sent).delivery
        else {
            panic!("a message");
        };
        assert_eq!((*conversation, *sender, *seq), (c, u, 7));
        assert_eq!(&recipients[..], &[u, v]);
        assert_eq!((&mentions[..], *everyone, *urgent), (&[v][..], true, true));
        assert_eq!(message_json, &json);
        assert_eq!(received, &codec::encode_received(&json));
        assert!(origin.is_none());
    }

    #[test]
    fn other_kinds_round_trip() {
        let (c, u) = (ConversationId::generate(), UserId::generate());
        let data = Bytes::from_static(br#"{"messageId":"m"}"#);
        let changed = Delivery::Changed {
            recipients: vec![u].into(),
            event: server::MESSAGE_EDITED,
            frame: codec::encode_raw(server::MESSAGE_EDITED, None, &data),
            data: data.clone(),
            origin: None,
        };
        let Delivery::Changed { event, frame, .. } = &*round_trip(&changed).delivery else {
            panic!("a change");
        };
        assert_eq!(*event, server::MESSAGE_EDITED);
        assert_eq!(
            frame,
            &codec::encode_raw(server::MESSAGE_EDITED, None, &data)
        );
        let read = Delivery::Read {
            conversation: c,
            reader: u,
            seq: 3,
            last_seq: 9,
            notices: vec![(u, Bytes::from_static(b"{\"event\":\"x\"}"))],
        };
        let Delivery::Read {
            seq,
            last_seq,
            notices,
            ..
        } = &*round_trip(&read).delivery
        else {
            panic!("a read");
        };
        assert_eq!((*seq, *last_seq), (3, 9));
        assert_eq!(&notices[0].1[..], b"{\"event\":\"x\"}");
        let session = SessionId::generate();
        let Delivery::Revoked { session: got, .. } =
            &*round_trip(&Delivery::Revoked { user: u, session }).delivery
        else {
            panic!("a revocation");
        };
        assert_eq!(*got, session);
        let Delivery::Preferences { user } =
            &*round_trip(&Delivery::Preferences { user: u }).delivery
        else {
            panic!("preferences");
        };
        assert_eq!(*user, u);
        let reply = Delivery::Reply {
            conn: 1,
            frame: Bytes::new(),
            answers: true,
        };
        assert!(
            encode(InstanceId::generate(), &reply).is_none(),
            "local only"
        );
    }

    #[test]
    fn garbage_is_refused_not_trusted() {
        for bad in [
            &b""[..],
            b"P1",
            b"XX\0\0\0\x02{}",
            b"P1\0\0\0\x09{}",
            b"P1\0\0\0\x02{}",
            b"P1\0\0\0\x10{\"i\":\"nope\",\"k\":1}",
        ] {
            assert!(decode(&Bytes::copy_from_slice(bad)).is_err(), "{bad:?}");
        }
        let mut h = header(InstanceId::generate(), Kind::Changed);
        h.e = Some("no:such".to_owned());
        let head = serde_json::to_vec(&h).expect("json");
        let mut bytes = b"P1".to_vec();
        bytes.extend_from_slice(&u32::try_from(head.len()).expect("small").to_be_bytes());
        bytes.extend_from_slice(&head);
        assert!(matches!(
            decode(&Bytes::from(bytes)),
            Err(EnvelopeError::Event)
        ));
    }
}
