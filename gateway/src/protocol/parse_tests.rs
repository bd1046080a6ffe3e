//! Table tests for the protocol: every client event and refusal parsed, and the encoders.

use parley_shared::ConversationId;

use super::*;
use crate::protocol::{
    BadgeCounts, encode_badge, encode_error, encode_received, encode_sent, frame_head,
};

fn parse_str(text: &str) -> Result<(Option<String>, ClientEvent), Box<FrameError>> {
    let mut buf = text.as_bytes().to_vec();
    parse(&mut buf)
}

#[test]
fn parses_client_events() {
    let cases: Vec<(&str, Option<&str>, ClientEvent)> = vec![
        (r#"{"event":"ping"}"#, None, ClientEvent::Ping),
        (
            r#"{"event":"ping","id":"7","data":{}}"#,
            Some("7"),
            ClientEvent::Ping,
        ),
        (
            r#"{"event":"auth","data":{"token":"t"}}"#,
            None,
            ClientEvent::Auth { token: "t".into() },
        ),
        (
            r#"{"event":"message:send","id":"a","data":{"conversationId":"conv_1","clientMessageId":"c","content":"hi \"you\" \u00e9"}}"#,
            Some("a"),
            ClientEvent::Send(SendData {
                conversation_id: "conv_1".into(),
                client_message_id: "c".into(),
                content: "hi \"you\" é".into(),
                content_type: None,
                reply_to: None,
                priority: None,
                attachments: Vec::new(),
            }),
        ),
        (
            r#"{"event":"message:send","data":{"conversationId":"c","clientMessageId":"x","attachments":["att_1","att_2"]}}"#,
            None,
            ClientEvent::Send(SendData {
                conversation_id: "c".into(),
                client_message_id: "x".into(),
                content: String::new(),
                content_type: None,
                reply_to: None,
                priority: None,
                attachments: vec!["att_1".into(), "att_2".into()],
            }),
        ),
        (
            r#"{"event":"message:send","data":{"conversationId":"c","clientMessageId":"x","content":"y","contentType":"text","replyTo":null,"priority":"urgent"}}"#,
            None,
            ClientEvent::Send(SendData {
                conversation_id: "c".into(),
                client_message_id: "x".into(),
                content: "y".into(),
                content_type: Some("text".into()),
                reply_to: None,
                priority: Some("urgent".into()),
                attachments: Vec::new(),
            }),
        ),
        (
            r#"{"event":"subscribe","data":{"conversationId":"conv_2"}}"#,
            None,
            ClientEvent::Subscribe {
                conversation_id: "conv_2".into(),
            },
        ),
        (
            r#"{"event":"unsubscribe","data":{"conversationId":"conv_2"}}"#,
            None,
            ClientEvent::Unsubscribe {
                conversation_id: "conv_2".into(),
            },
        ),
        (
            r#"{"event":"message:edit","id":"e","data":{"messageId":"msg_1","content":"new"}}"#,
            Some("e"),
            ClientEvent::Change {
                message_id: "msg_1".into(),
                asked: Asked::Edit {
                    content: "new".into(),
                },
            },
        ),
        (
            r#"{"event":"message:delete","data":{"messageId":"msg_1"}}"#,
            None,
            ClientEvent::Change {
                message_id: "msg_1".into(),
                asked: Asked::Delete,
            },
        ),
        (
            r#"{"event":"message:react","data":{"messageId":"m","emoji":"👍","action":"remove"}}"#,
            None,
            ClientEvent::Change {
                message_id: "m".into(),
                asked: Asked::React {
                    emoji: "👍".into(),
                    add: false,
                },
            },
        ),
        (
            r#"{"event":"message:react","data":{"messageId":"m","emoji":"x"}}"#,
            None,
            ClientEvent::Change {
                message_id: "m".into(),
                asked: Asked::React {
                    emoji: "x".into(),
                    add: true,
                },
            },
        ),
        (
            r#"{"event":"receipt:read","data":{"conversationId":"c","seq":42}}"#,
            None,
            ClientEvent::Read {
                conversation_id: "c".into(),
                seq: 42,
            },
        ),
        (
            r#"{"event":"typing:stop","data":{"conversationId":"c"}}"#,
            None,
            ClientEvent::Typing {
                conversation_id: "c".into(),
                start: false,
            },
        ),
        (
            r#"{"event":"sync:request","data":{"conversations":[{"conversationId":"c","lastSeq":0},{"conversationId":"d","lastSeq":9}]}}"#,
            None,
            ClientEvent::Sync(vec![("c".into(), 0), ("d".into(), 9)]),
        ),
        (
            r#"{"event":"presence:heartbeat","data":{}}"#,
            None,
            ClientEvent::Heartbeat,
        ),
        (
            r#"{"event":"presence:set","data":{"status":"dnd"}}"#,
            None,
            ClientEvent::PresenceSet {
                status: "dnd".into(),
            },
        ),
        (
            r#"{"event":"presence:unsubscribe","data":{"userIds":["usr_1"]}}"#,
            None,
            ClientEvent::PresenceWatch {
                user_ids: vec!["usr_1".into()],
                on: false,
            },
        ),
    ];
    for (input, id, want) in cases {
        let (got_id, got) = parse_str(input).unwrap_or_else(|e| panic!("{input}: {e:?}"));
        assert_eq!(got_id.as_deref(), id, "{input}");
        assert_eq!(got, want, "{input}");
    }
}

#[test]
fn refuses_bad_frames_with_a_reason() {
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let cases: Vec<(&str, Option<&str>, Option<&str>)> = vec![
        ("", None, None),
        ("not json", None, None),
        ("[1,2]", None, None),
        (&deep, None, None),
        (r#"{"id":"1"}"#, Some("1"), None),
        (r#"{"event":5}"#, None, None),
        (r#"{"event":"dance","id":"9"}"#, Some("9"), None),
        (r#"{"event":"ping","extra":1}"#, None, None),
        (r#"{"event":"ping","id":7}"#, None, None),
        (r#"{"event":"auth"}"#, None, None),
        (r#"{"event":"auth","data":{"token":5}}"#, None, None),
        (
            r#"{"event":"message:send","id":"s","data":{"clientMessageId":"c1","content":"x"}}"#,
            Some("s"),
            Some("c1"),
        ),
        (
            r#"{"event":"message:send","data":{"conversationId":"c","clientMessageId":"c2","content":"x","senderId":"u"}}"#,
            None,
            Some("c2"),
        ),
        (r#"{"event":"subscribe","data":[]}"#, None, None),
        (
            r#"{"event":"message:react","data":{"messageId":"m","emoji":"x","action":"toggle"}}"#,
            None,
            None,
        ),
        (
            r#"{"event":"receipt:read","data":{"conversationId":"c","seq":0}}"#,
            None,
            None,
        ),
        (
            r#"{"event":"receipt:read","data":{"conversationId":"c","seq":"5"}}"#,
            None,
            None,
        ),
        (
            r#"{"event":"sync:request","data":{"conversations":[{"conversationId":"c"}]}}"#,
            None,
            None,
        ),
        (
            r#"{"event":"sync:request","data":{"conversations":{}}}"#,
            None,
            None,
        ),
        (
            r#"{"event":"presence:subscribe","data":{"userIds":[1]}}"#,
            None,
            None,
        ),
    ];
    for (input, id, client_id) in cases {
        let error = parse_str(input).expect_err(input);
        assert_eq!(error.id.as_deref(), id, "{input}");
        assert_eq!(error.client_message_id.as_deref(), client_id, "{input}");
        assert_eq!(error.body.code, ErrorCode::ValidationError, "{input}");
    }
    let long_id = format!(r#"{{"event":"ping","id":"{}"}}"#, "x".repeat(65));
    assert!(parse_str(&long_id).is_err());
    let deep_string = format!(r#"{{"event":"ping","id":"{}"}}"#, "[".repeat(60));
    assert!(
        parse_str(&deep_string).is_ok(),
        "brackets inside strings do not count"
    );
}

#[test]
fn encodes_server_frames() {
    let sent = encode_sent(Some("r\"1"), "c-1", br#"{"seq":1}"#);
    let value: serde_json::Value = serde_json::from_slice(&sent).expect("json");
    assert_eq!(
        value,
        serde_json::json!({"event": "message:sent", "id": "r\"1", "data": {"clientMessageId": "c-1", "message": {"seq": 1}}})
    );
    let conversation = ConversationId::generate();
    let badge: serde_json::Value = serde_json::from_slice(&encode_badge(
        conversation,
        BadgeCounts {
            unread: 3,
            total: 12,
            mentions: 1,
            total_mentions: 2,
        },
    ))
    .expect("json");
    assert_eq!(
        badge,
        serde_json::json!({"event": "notification:badge", "data": {
            "conversationId": conversation, "unreadCount": 3, "totalUnread": 12,
            "mentionCount": 1, "totalMentions": 2}})
    );
    let received = encode_received(br#"{"seq":2}"#);
    let value: serde_json::Value = serde_json::from_slice(&received).expect("json");
    assert_eq!(
        value,
        serde_json::json!({"event": "message:received", "data": {"message": {"seq": 2}}})
    );
    let error = encode_error(
        "message:error",
        None,
        Some("c"),
        &ErrorBody::new(ErrorCode::RateLimited, "slow down").with_retry_after(3),
    );
    let value: serde_json::Value = serde_json::from_slice(&error).expect("json");
    assert_eq!(
        value["data"],
        serde_json::json!({"clientMessageId": "c", "code": "RATE_LIMITED", "message": "slow down", "retryable": true, "retryAfter": 3})
    );
    for (len, head_len) in [
        (0usize, 2usize),
        (125, 2),
        (126, 4),
        (65_535, 4),
        (65_536, 10),
    ] {
        let mut out = Vec::new();
        frame_head(0x1, len, &mut out);
        assert_eq!(out.len(), head_len, "{len}");
        assert_eq!(out[0], 0x81);
    }
}
