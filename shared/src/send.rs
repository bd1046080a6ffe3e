//! The rules a message must meet before it is queued, shared by REST and WebSocket sends:
//! content 1 to 4000 characters (not only whitespace), a client id of 1 to 100 printable
//! characters, content type `text`, a well-formed `replyTo`, and a `priority` of `normal` (the
//! default) or `urgent`. A send with attachments (up to 10 well-formed ids, none twice) may have
//! no text, and its type is `image` or `file` (`image` only if every upload is one, which the
//! gateway checks on the stored uploads; omitted, the gateway derives it).

use crate::{AttachmentId, MessageId};

/// Most attachments on one message.
pub const MAX_ATTACHMENTS: usize = 10;

/// Most characters (Unicode scalar values) in a message.
pub const MAX_CONTENT_CHARS: usize = 4000;
/// Most characters in a client message id.
pub const MAX_CLIENT_ID_CHARS: usize = 100;

/// A send as the client wrote it.
#[derive(Debug, Clone, Copy)]
pub struct SendFields<'a> {
    pub client_message_id: &'a str,
    pub content: &'a str,
    pub content_type: Option<&'a str>,
    pub reply_to: Option<&'a str>,
    pub priority: Option<&'a str>,
    /// Upload ids as written (empty: none).
    pub attachments: &'a [String],
}

/// A send that passed every rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidSend {
    pub content_type: &'static str,
    pub reply_to: Option<MessageId>,
    /// `priority: "urgent"`: it breaks through mutes and do-not-disturb.
    pub urgent: bool,
    pub attachments: Vec<AttachmentId>,
    /// The client named the type (with attachments and no type, the gateway derives it).
    pub type_given: bool,
}

/// Checks `fields`; on failure returns every problem as `(field, message)`.
pub fn validate(fields: SendFields<'_>) -> Result<ValidSend, Vec<(&'static str, String)>> {
    let mut problems = Vec::new();
    let attached = !fields.attachments.is_empty();
    if !(attached && fields.content.is_empty())
        && let Err(problem) = validate_content(fields.content)
    {
        problems.push(("content", problem));
    }
    let id_chars = fields.client_message_id.chars().count();
    if id_chars == 0
        || id_chars > MAX_CLIENT_ID_CHARS
        || fields.client_message_id.chars().any(char::is_control)
    {
        problems.push((
            "clientMessageId",
            format!("must be 1 to {MAX_CLIENT_ID_CHARS} characters without control characters"),
        ));
    }
    let content_type = match (fields.content_type, attached) {
        (None | Some("text"), false) => "text",
        (None | Some("file"), true) => "file",
        (Some("image"), true) => "image",
        (_, false) => {
            problems.push(("contentType", "must be \"text\"".to_owned()));
            "text"
        }
        (_, true) => {
            problems.push((
                "contentType",
                "must be \"image\" or \"file\" with attachments".to_owned(),
            ));
            "file"
        }
    };
    let mut attachments = Vec::with_capacity(fields.attachments.len());
    if fields.attachments.len() > MAX_ATTACHMENTS {
        problems.push((
            "attachments",
            format!("must hold at most {MAX_ATTACHMENTS} ids"),
        ));
    } else {
        for id in fields.attachments {
            match id.parse::<AttachmentId>() {
                Ok(id) if attachments.contains(&id) => {
                    problems.push(("attachments", "must not name an upload twice".to_owned()));
                    break;
                }
                Ok(id) => attachments.push(id),
                Err(error) => {
                    problems.push(("attachments", error.to_string()));
                    break;
                }
            }
        }
    }
    let urgent = match fields.priority {
        None | Some("normal") => false,
        Some("urgent") => true,
        Some(_) => {
            problems.push(("priority", "must be \"normal\" or \"urgent\"".to_owned()));
            false
        }
    };
    let reply_to = match fields.reply_to.map(str::parse::<MessageId>) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(error)) => {
            problems.push(("replyTo", error.to_string()));
            None
        }
    };
    if problems.is_empty() {
        Ok(ValidSend {
            content_type,
            reply_to,
            urgent,
            attachments,
            type_given: fields.content_type.is_some(),
        })
    } else {
        Err(problems)
    }
}

/// Most characters in a reaction.
pub const MAX_EMOJI_CHARS: usize = 32;

/// Checks a message's content (a send's, or an edit's): 1 to 4000 characters, not only
/// whitespace, nothing PostgreSQL cannot store.
pub fn validate_content(content: &str) -> Result<(), String> {
    let chars = content.chars().count();
    if chars == 0 || content.trim().is_empty() || chars > MAX_CONTENT_CHARS {
        return Err(format!(
            "Content must be between 1 and {MAX_CONTENT_CHARS} characters"
        ));
    }
    if !crate::text::storable(content) {
        return Err(format!("Content {}", crate::text::NUL_PROBLEM));
    }
    Ok(())
}

/// Checks a reaction: 1 to 32 characters, no whitespace or control characters (one emoji, possibly
/// a sequence with joiners and modifiers, or a short code like `:+1:`).
pub fn validate_emoji(emoji: &str) -> Result<(), String> {
    let chars = emoji.chars().count();
    if chars == 0
        || chars > MAX_EMOJI_CHARS
        || emoji.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "must be 1 to {MAX_EMOJI_CHARS} characters without spaces or control characters"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_and_emoji_table() {
        let long = "x".repeat(4001);
        for (content, ok) in [
            ("fixed", true),
            ("tab\tand\nnewline", true),
            ("nul\0inside", false),
            ("", false),
            (" \t", false),
            (long.as_str(), false),
        ] {
            assert_eq!(validate_content(content).is_ok(), ok, "{content:?}");
        }
        let long_emoji = "👍".repeat(33);
        for (emoji, ok) in [
            ("👍", true),
            ("👍🏽", true),
            ("👩‍👩‍👧", true),
            (":+1:", true),
            ("", false),
            ("a b", false),
            ("x\u{7}", false),
            (long_emoji.as_str(), false),
        ] {
            assert_eq!(validate_emoji(emoji).is_ok(), ok, "{emoji:?}");
        }
    }

    fn fields<'a>(client: &'a str, content: &'a str) -> SendFields<'a> {
        SendFields {
            client_message_id: client,
            content,
            content_type: None,
            priority: None,
            reply_to: None,
            attachments: &[],
        }
    }

    #[test]
    fn rules_table() {
        let long = "x".repeat(4001);
        let max = "é".repeat(4000);
        let long_id = "c".repeat(101);
        let reply = MessageId::generate().to_string();
        let one = [AttachmentId::generate().to_string()];
        let twice = [one[0].clone(), one[0].clone()];
        let bad = ["att_nope".to_owned()];
        let eleven: Vec<String> = (0..11)
            .map(|_| AttachmentId::generate().to_string())
            .collect();
        let cases: Vec<(SendFields<'_>, &[&str])> = vec![
            (fields("c1", "hello"), &[]),
            (fields("c1", &max), &[]),
            (fields("c1", ""), &["content"]),
            (fields("c1", "   \n"), &["content"]),
            (fields("c1", &long), &["content"]),
            (fields("", "hi"), &["clientMessageId"]),
            (fields(&long_id, "hi"), &["clientMessageId"]),
            (fields("a\nb", "hi"), &["clientMessageId"]),
            (
                SendFields {
                    content_type: Some("system"),
                    ..fields("c", "hi")
                },
                &["contentType"],
            ),
            (
                SendFields {
                    content_type: Some("text"),
                    ..fields("c", "hi")
                },
                &[],
            ),
            (
                SendFields {
                    reply_to: Some("msg_nope"),
                    ..fields("c", "hi")
                },
                &["replyTo"],
            ),
            (
                SendFields {
                    reply_to: Some(&reply),
                    ..fields("c", "hi")
                },
                &[],
            ),
            (fields("", ""), &["content", "clientMessageId"]),
            (
                SendFields {
                    priority: Some("urgent"),
                    ..fields("c", "hi")
                },
                &[],
            ),
            (
                SendFields {
                    priority: Some("high"),
                    ..fields("c", "hi")
                },
                &["priority"],
            ),
            (
                SendFields {
                    attachments: &one,
                    ..fields("c", "")
                },
                &[],
            ),
            (
                SendFields {
                    attachments: &one,
                    content_type: Some("image"),
                    ..fields("c", "a caption")
                },
                &[],
            ),
            (
                SendFields {
                    attachments: &one,
                    content_type: Some("text"),
                    ..fields("c", "")
                },
                &["contentType"],
            ),
            (
                SendFields {
                    content_type: Some("image"),
                    ..fields("c", "hi")
                },
                &["contentType"],
            ),
            (
                SendFields {
                    attachments: &twice,
                    ..fields("c", "")
                },
                &["attachments"],
            ),
            (
                SendFields {
                    attachments: &bad,
                    ..fields("c", "")
                },
                &["attachments"],
            ),
            (
                SendFields {
                    attachments: &eleven,
                    ..fields("c", "")
                },
                &["attachments"],
            ),
            (
                SendFields {
                    attachments: &one,
                    ..fields("c", " ")
                },
                &["content"],
            ),
        ];
        for (input, want) in cases {
            let got: Vec<&str> = match validate(input) {
                Ok(_) => Vec::new(),
                Err(problems) => problems.iter().map(|(field, _)| *field).collect(),
            };
            assert_eq!(got, want, "{input:?}");
        }
    }
}
