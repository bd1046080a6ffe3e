//! Component schemas: one per request type and view in `api::views`, written to match their serde
//! shapes (integration tests check real responses against them).

use serde_json::{Value, json};

pub(super) fn id(prefix: &str) -> Value {
    json!({"type": "string", "pattern": format!("^{prefix}[0-9a-f]{{32}}$")})
}

pub(super) fn timestamp(nullable: bool) -> Value {
    json!({"type": "string", "format": "date-time", "nullable": nullable})
}

/// Every component schema, by name.
pub(super) fn all() -> Value {
    let mut schemas = core();
    for more in [
        sessions(),
        notifications(),
        mfa(),
        groups(),
        super::files::schemas(),
    ] {
        if let (Some(all), Value::Object(more)) = (schemas.as_object_mut(), more) {
            all.extend(more);
        }
    }
    // A conversation carries the caller's notification settings (added here: the core schemas
    // are one `json!` already at the macro's recursion limit).
    if let Value::Object(more) = super::moderation::schemas()
        && let Some(all) = schemas.as_object_mut()
    {
        all.extend(more);
    }
    let me = &mut schemas["Me"];
    me["properties"]["isAdmin"] = json!({"type": "boolean", "description": "A server admin (granted with `parley admin grant`)"});
    if let Some(required) = me["required"].as_array_mut() {
        required.push(json!("isAdmin"));
    }
    let conversation = &mut schemas["Conversation"];
    conversation["properties"]["retentionSeconds"] = json!({"type": "integer", "nullable": true, "minimum": 1,
        "description": "How long this conversation keeps its messages (null: as long as the server does)"});
    if let Some(required) = conversation["required"].as_array_mut() {
        required.push(json!("retentionSeconds"));
    }
    conversation["properties"]["description"] = json!({"type": "string", "nullable": true, "maxLength": 500, "description": "A group's description"});
    if let Some(required) = conversation["required"].as_array_mut() {
        required.push(json!("description"));
    }
    conversation["properties"]["notifications"] = json!({
        "allOf": [{"$ref": "#/components/schemas/ConversationNotifications"}],
        "description": "The caller's level and mute there"
    });
    if let Some(required) = conversation["required"].as_array_mut() {
        required.push(json!("notifications"));
    }
    super::files::extend(&mut schemas);
    nullable_optionals(&mut schemas);
    schemas
}

/// Request bodies: an optional field may also be `null`, which the server reads as absent (serde's
/// `Option`). Said in the document, so a client (and schemathesis) knows `null` is accepted.
fn nullable_optionals(schemas: &mut Value) {
    let Some(all) = schemas.as_object_mut() else {
        return;
    };
    for (name, schema) in all.iter_mut() {
        if !name.ends_with("Request") {
            continue;
        }
        let required: Vec<String> = schema["required"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let Some(properties) = schema["properties"].as_object_mut() else {
            continue;
        };
        for (field, property) in properties.iter_mut() {
            if required.contains(field) || property.get("nullable").is_some() {
                continue;
            }
            if let Some(reference) = property.get("$ref").cloned() {
                *property = json!({"allOf": [{"$ref": reference}], "nullable": true});
            } else {
                property["nullable"] = json!(true);
            }
        }
    }
}

/// Notification preferences.
fn notifications() -> Value {
    let schedule = json!({
        "type": "object", "required": ["start", "end", "timeZone"], "additionalProperties": false,
        "description": "A daily window in local time; it wraps past midnight when end is earlier than start",
        "properties": {
            "start": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"},
            "end": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"},
            "timeZone": {"type": "string", "maxLength": 64, "description": "IANA, e.g. Europe/Berlin"}
        }
    });
    json!({
        "ConversationNotifications": {
            "type": "object", "required": ["level", "mutedUntil", "muted"],
            "properties": {
                "level": {"type": "string", "enum": ["all", "mentions", "off"]},
                "mutedUntil": timestamp(true),
                "muted": {"type": "boolean", "description": "The mute covers this moment"}
            }
        },
        "ConversationNotificationsRequest": {
            "type": "object", "required": ["level"], "additionalProperties": false,
            "properties": {
                "level": {"type": "string", "enum": ["all", "mentions", "off"]},
                "mutedUntil": {"allOf": [timestamp(false)], "nullable": true,
                               "description": "Absent or null: not muted; a past time counts as not muted"}
            }
        },
        "UserNotifications": {
            "type": "object", "required": ["dndSchedule", "inDndNow"],
            "properties": {
                "dndSchedule": {"allOf": [schedule.clone()], "nullable": true},
                "inDndNow": {"type": "boolean", "description": "The schedule covers this moment"}
            }
        },
        "PushSubscriptionRequest": {
            "type": "object", "required": ["kind"], "additionalProperties": false,
            "properties": {
                "kind": {"type": "string", "enum": ["webhook", "webpush"],
                         "description": "webhook: pushed to notifications.webhook_url (the operator's push gateway) with token; webpush: a browser's PushSubscription (endpoint and keys)"},
                "token": {"type": "string", "minLength": 1, "maxLength": 4096,
                          "description": "webhook: what the push gateway knows the device by (an APNs or FCM token...)"},
                "endpoint": {"type": "string", "maxLength": 4096,
                             "description": "webpush: the subscription's endpoint (https, at an allowed push service)"},
                "keys": {"type": "object", "required": ["p256dh", "auth"], "additionalProperties": false,
                         "properties": {"p256dh": {"type": "string"}, "auth": {"type": "string"}},
                         "description": "webpush: the subscription's keys, base64url"},
                "label": {"type": "string", "maxLength": 100, "description": "Shown in the devices list"}
            }
        },
        "PushChannels": {
            "type": "object", "required": ["webhook", "vapidPublicKey"],
            "properties": {
                "webhook": {"type": "boolean", "description": "webhook devices can be registered"},
                "vapidPublicKey": {"type": "string", "nullable": true,
                                   "description": "The applicationServerKey browsers subscribe with (base64url); null: no Web Push"}
            }
        },
        "Device": {
            "type": "object", "required": ["id", "kind", "label", "createdAt", "lastSuccessAt", "failures"],
            "properties": {
                "id": id("dev_"),
                "kind": {"type": "string", "enum": ["webhook", "webpush"]},
                "label": {"type": "string"},
                "createdAt": timestamp(false),
                "lastSuccessAt": timestamp(true),
                "failures": {"type": "integer", "minimum": 0, "description": "Failed attempts since the last delivery"}
            }
        },
        "UserNotificationsRequest": {
            "type": "object", "additionalProperties": false,
            "properties": {"dndSchedule": {"allOf": [schedule], "nullable": true, "description": "null (or absent) clears it"}}
        }
    })
}

/// Password change and the sessions list.
fn sessions() -> Value {
    json!({
        "ChangePasswordRequest": {
            "type": "object", "required": ["currentPassword", "newPassword"], "additionalProperties": false,
            "properties": {
                "currentPassword": {"type": "string"},
                "newPassword": {"type": "string", "minLength": 8, "maxLength": 1024}
            }
        },
        "Session": {
            "type": "object",
            "required": ["id", "device", "userAgent", "ipAddress", "createdAt", "lastUsedAt", "current"],
            "properties": {
                "id": id("ses_"),
                "device": {"type": "string", "description": "From the user agent, e.g. \"Chrome on Linux\""},
                "userAgent": {"type": "string", "nullable": true},
                "ipAddress": {"type": "string", "nullable": true},
                "createdAt": timestamp(false),
                "lastUsedAt": timestamp(false),
                "current": {"type": "boolean", "description": "The session of the token that asked"}
            }
        }
    })
}

/// Two-factor sign-in, profile and blocks.
fn mfa() -> Value {
    let code = json!({"type": "string", "description": "The authenticator's current 6-digit code, or an unused recovery code (xxxxx-xxxxx)"});
    json!({
        "MfaChallenge": {
            "type": "object", "required": ["mfaRequired", "challengeToken", "expiresIn"],
            "properties": {
                "mfaRequired": {"type": "boolean", "enum": [true]},
                "challengeToken": {"type": "string", "description": "For POST /api/auth/login/mfa"},
                "expiresIn": {"type": "integer", "description": "Seconds the challenge lives (it also ends after 5 codes)"}
            }
        },
        "LoginResponse": {
            "description": "Tokens, or with two-factor sign-in on a challenge for the code",
            "oneOf": [{"$ref": "#/components/schemas/AuthResponse"}, {"$ref": "#/components/schemas/MfaChallenge"}]
        },
        "MfaLoginRequest": {
            "type": "object", "required": ["challengeToken", "code"], "additionalProperties": false,
            "properties": {"challengeToken": {"type": "string"}, "code": code}
        },
        "PasswordRequest": {
            "type": "object", "required": ["password"], "additionalProperties": false,
            "properties": {"password": {"type": "string"}}
        },
        "MfaCodeRequest": {
            "type": "object", "required": ["code"], "additionalProperties": false,
            "properties": {"code": code}
        },
        "MfaDisableRequest": {
            "type": "object", "required": ["password", "code"], "additionalProperties": false,
            "properties": {"password": {"type": "string"}, "code": code}
        },
        "MfaStatus": {
            "type": "object", "required": ["enabled", "pending", "recoveryCodesLeft"],
            "properties": {
                "enabled": {"type": "boolean"},
                "pending": {"type": "boolean", "description": "Enrolment started, waiting for its first code"},
                "recoveryCodesLeft": {"type": "integer"}
            }
        },
        "MfaEnrolment": {
            "type": "object", "required": ["secret", "otpauthUri"],
            "properties": {
                "secret": {"type": "string", "description": "Base32 (RFC 4648), for typing into an authenticator"},
                "otpauthUri": {"type": "string", "description": "otpauth://totp/Parley:<username>?secret=...&issuer=Parley (SHA1, 6 digits, 30 s)"}
            }
        },
        "ProfileRequest": {
            "type": "object", "required": ["displayName"], "additionalProperties": false,
            "properties": {"displayName": {"type": "string", "minLength": 1, "description": "1 to 64 characters once trimmed and NFC-normalised (the stored form); no control or bidirectional control characters"}}
        },
        "BlockRequest": {
            "type": "object", "required": ["userId"], "additionalProperties": false,
            "properties": {"userId": id("usr_")}
        },
        "Block": {
            "type": "object", "required": ["userId", "username", "displayName", "createdAt"],
            "properties": {
                "userId": id("usr_"),
                "username": {"type": "string"},
                "displayName": {"type": "string"},
                "createdAt": timestamp(false)
            }
        },
        "MfaRecoveryCodes": {
            "type": "object", "required": ["recoveryCodes"],
            "properties": {"recoveryCodes": {"type": "array", "items": {"type": "string"}, "description": "Ten single-use codes, shown only now"}}
        }
    })
}

fn core() -> Value {
    json!({
        "Error": {
            "type": "object", "required": ["error"],
            "properties": {"error": {
                "type": "object", "required": ["code", "message", "retryable"],
                "properties": {
                    "code": {"type": "string", "enum": parley_shared::ErrorCode::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>()},
                    "message": {"type": "string"},
                    "details": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
                    "retryable": {"type": "boolean"},
                    "retryAfter": {"type": "integer", "description": "Seconds"}
                }
            }}
        },
        "PageMeta": {
            "type": "object", "required": ["cursor", "hasMore"],
            "properties": {
                "cursor": {"type": "string", "nullable": true}, "hasMore": {"type": "boolean"},
                "newerCursor": {"type": "string", "nullable": true, "description": "A page around a message (`around`): pass as `after` for newer messages"},
                "hasNewer": {"type": "boolean", "description": "A page around a message (`around`): newer messages exist"},
                "expiredThroughSeq": {"type": "integer", "minimum": 0, "description": "History: every message with a seq at or below it was deleted by retention (0: none)"}
            }
        },
        "RegisterRequest": {
            "type": "object", "required": ["username", "password"], "additionalProperties": false,
            "properties": {
                "username": {"type": "string", "pattern": "^[a-z0-9_]{3,32}$"},
                "password": {"type": "string", "minLength": 8, "maxLength": 1024},
                "displayName": {"type": "string", "minLength": 1, "description": "1 to 64 characters once trimmed and NFC-normalised (the stored form); no control or bidirectional control characters"},
                "email": {"type": "string", "nullable": true, "anyOf": [{"format": "email"}, {"maxLength": 0}], "description": "For password resets; empty, null or absent: none"}
            }
        },
        "LoginRequest": {
            "type": "object", "required": ["username", "password"], "additionalProperties": false,
            "properties": {"username": {"type": "string"}, "password": {"type": "string"}}
        },
        "RefreshRequest": {
            "type": "object", "required": ["refreshToken"], "additionalProperties": false,
            "properties": {"refreshToken": {"type": "string"}}
        },
        "CreateConversationRequest": {
            "type": "object", "required": ["type"], "additionalProperties": false,
            "description": "A DM takes userId; a group takes name and memberIds.",
            "properties": {
                "type": {"type": "string", "enum": ["dm", "group"]},
                "userId": id("usr_"),
                "name": {"type": "string", "minLength": 1, "description": "1 to 100 characters once trimmed and NFC-normalised (the stored form); no control or bidirectional control characters"},
                "memberIds": {"type": "array", "items": id("usr_")}
            }
        },
        "AddMemberRequest": {
            "type": "object", "required": ["userId"], "additionalProperties": false,
            "properties": {"userId": id("usr_"), "role": {"type": "string", "enum": ["member", "admin"]}}
        },
        "SendMessageRequest": {
            "type": "object", "required": ["clientMessageId", "content"], "additionalProperties": false,
            "properties": {
                "clientMessageId": {"type": "string", "minLength": 1, "maxLength": 100,
                                    "description": "Your idempotency key: a retry with the same one returns the original"},
                "content": {"type": "string", "minLength": 1, "maxLength": 4000},
                "contentType": {"type": "string", "enum": ["text"]},
                "replyTo": id("msg_"),
                "priority": {"type": "string", "enum": ["normal", "urgent"],
                             "description": "urgent breaks through the recipients' mutes and do-not-disturb (limits.urgent per user)"}
            }
        },
        "TokenPair": {
            "type": "object", "required": ["accessToken", "refreshToken", "expiresIn"],
            "properties": {
                "accessToken": {"type": "string"},
                "refreshToken": {"type": "string"},
                "expiresIn": {"type": "integer", "description": "Seconds until the access token expires"}
            }
        },
        "AuthResponse": {
            "type": "object", "required": ["user", "accessToken", "refreshToken", "expiresIn"],
            "properties": {
                "user": {"$ref": "#/components/schemas/Me"},
                "accessToken": {"type": "string"},
                "refreshToken": {"type": "string"},
                "expiresIn": {"type": "integer"}
            }
        },
        "User": {
            "type": "object", "required": ["id", "username", "displayName", "createdAt", "lastSeenAt"],
            "properties": {
                "id": id("usr_"),
                "username": {"type": "string"},
                "displayName": {"type": "string"},
                "createdAt": timestamp(false),
                "lastSeenAt": {"allOf": [timestamp(true)], "nullable": true, "description": "null unless the caller shares a conversation with the user (or is the user)"},
                "status": {"type": "string", "enum": ["online", "away", "dnd", "offline", "unknown"],
                           "description": "Presence, on GET /api/users/{userId} only, and only to people who share a conversation with the user (and the user); unknown while instances are joined and Redis is unreachable"}
            }
        },
        "Me": {
            "type": "object", "required": ["id", "username", "displayName", "createdAt", "lastSeenAt", "email"],
            "properties": {
                "id": id("usr_"),
                "username": {"type": "string"},
                "displayName": {"type": "string"},
                "createdAt": timestamp(false),
                "lastSeenAt": timestamp(true),
                "email": {"type": "string", "nullable": true}
            }
        },
        "Member": {
            "type": "object", "required": ["userId", "username", "displayName", "role", "joinedAt", "lastReadSeq"],
            "properties": {
                "userId": id("usr_"),
                "username": {"type": "string"},
                "displayName": {"type": "string"},
                "role": {"type": "string", "enum": ["owner", "admin", "member"]},
                "joinedAt": timestamp(false),
                "lastReadSeq": {"type": "integer", "minimum": 0, "description": "Their read watermark"}
            }
        },
        "Message": {
            "type": "object",
            "required": ["id", "conversationId", "senderId", "seq", "content", "contentType", "replyTo",
                         "clientMessageId", "createdAt", "editedAt", "deletedAt", "mentions",
                         "mentionsEveryone", "priority", "reactions"],
            "properties": {
                "id": id("msg_"),
                "conversationId": id("conv_"),
                "senderId": id("usr_"),
                "seq": {"type": "integer", "minimum": 1},
                "content": {"type": "string", "maxLength": 4000, "description": "Empty once deleted"},
                "contentType": {"type": "string", "enum": ["text", "system"]},
                "replyTo": {"allOf": [id("msg_")], "nullable": true},
                "clientMessageId": {"type": "string"},
                "createdAt": timestamp(false),
                "editedAt": timestamp(true),
                "deletedAt": timestamp(true),
                "mentions": {"type": "array", "items": id("usr_"), "maxItems": 50,
                             "description": "Members mentioned by @username when it was sent (never the sender)"},
                "mentionsEveryone": {"type": "boolean",
                                     "description": "@everyone by a group's owner or admin: every member but the sender is mentioned"},
                "priority": {"type": "string", "enum": ["normal", "urgent"]},
                "reactions": {"type": "array", "items": {"$ref": "#/components/schemas/Reaction"}}
            }
        },
        "Reaction": {
            "type": "object", "required": ["emoji", "count", "userIds"],
            "properties": {
                "emoji": {"type": "string", "maxLength": 32},
                "count": {"type": "integer", "minimum": 1},
                "userIds": {"type": "array", "items": id("usr_"), "description": "Earliest first"}
            }
        },
        "EditMessage": {
            "type": "object", "required": ["content"], "additionalProperties": false,
            "properties": {"content": {"type": "string", "minLength": 1, "maxLength": 4000}}
        },
        "React": {
            "type": "object", "required": ["emoji"], "additionalProperties": false,
            "properties": {"emoji": {"type": "string", "minLength": 1, "maxLength": 32}}
        },
        "Receipt": {
            "type": "object", "required": ["userId", "username", "displayName", "readAt"],
            "properties": {
                "userId": id("usr_"),
                "username": {"type": "string"},
                "displayName": {"type": "string"},
                "readAt": {"allOf": [timestamp(false)], "nullable": true, "description": "null when the read was implied (they sent a later message, or joined after it)"}
            }
        },
        "SearchHit": {
            "type": "object",
            "required": ["message", "snippet", "rank"],
            "properties": {
                "message": {"$ref": "#/components/schemas/Message"},
                "snippet": {
                    "type": "object",
                    "required": ["text", "highlights"],
                    "properties": {
                        "text": {"type": "string", "description": "The best fragment(s) of the content, as plain text"},
                        "highlights": {
                            "type": "array",
                            "description": "[start, end) offsets, in Unicode characters, of the matched words in `text`",
                            "items": {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 2, "maxItems": 2}
                        }
                    }
                },
                "rank": {"type": "number", "description": "Relevance; higher is better"}
            }
        },
        "Conversation": {
            "type": "object",
            "required": ["id", "type", "name", "ownerId", "createdAt", "lastActivityAt", "lastSeq", "role",
                         "lastReadSeq", "unreadCount", "mentionCount", "memberCount", "members", "lastMessage"],
            "properties": {
                "id": id("conv_"),
                "type": {"type": "string", "enum": ["dm", "group"]},
                "name": {"type": "string", "nullable": true},
                "ownerId": {"allOf": [id("usr_")], "nullable": true},
                "createdAt": timestamp(false),
                "lastActivityAt": timestamp(false),
                "lastSeq": {"type": "integer"},
                "role": {"type": "string", "enum": ["owner", "admin", "member"]},
                "lastReadSeq": {"type": "integer"},
                "unreadCount": {"type": "integer", "minimum": 0},
                "mentionCount": {"type": "integer", "minimum": 0, "maximum": 1000,
                                 "description": "Unread messages that mention the caller (by name or @everyone), at most 1000"},
                "memberCount": {"type": "integer"},
                "members": {"type": "array", "items": {"$ref": "#/components/schemas/Member"}},
                "lastMessage": {"allOf": [{"$ref": "#/components/schemas/Message"}], "nullable": true}
            }
        }
    })
}

/// Request bodies of group changes, and data exports.
fn groups() -> Value {
    json!({
        "Export": {
            "type": "object",
            "required": ["id", "status", "bytes", "createdAt", "readyAt", "downloadedAt", "expiresAt"],
            "properties": {
                "id": id("exp_"),
                "status": {"type": "string", "enum": ["preparing", "ready", "downloaded", "failed", "expired"]},
                "bytes": {"type": "integer", "minimum": 0, "description": "The archive's length once ready"},
                "createdAt": timestamp(false),
                "readyAt": timestamp(true),
                "downloadedAt": timestamp(true),
                "expiresAt": timestamp(false)
            }
        },
        "RetentionRequest": {
            "type": "object", "required": ["messages"], "additionalProperties": false,
            "properties": {"messages": {"type": "string", "nullable": true,
                "description": "A duration such as \"30d\" or \"12h\" (at most the server's retention.messages), or null: as long as the server keeps messages"}}
        },
        "DeleteAccountRequest": {
            "type": "object", "required": ["password"], "additionalProperties": false,
            "properties": {
                "password": {"type": "string"},
                "code": {"type": "string", "description": "A current two-factor code or a recovery code (required when two-factor sign-in is on)"}
            }
        },
        "ExportArchive": {
            "type": "object",
            "required": ["format", "exportedAt", "user", "twoFactor", "settings", "sessions", "devices",
                         "blocks", "memberships", "reports", "messages", "reactions"],
            "description": "Everything of yours: your profile, settings, sessions, devices, blocks, memberships and reports, every message you sent (content as stored; deleted ones empty) and every reaction you gave. Nobody else's messages.",
            "properties": {
                "format": {"type": "string", "enum": ["parley-export/1"]},
                "exportedAt": timestamp(false),
                "user": {"type": "object"},
                "twoFactor": {"type": "boolean"},
                "settings": {"type": "object"},
                "sessions": {"type": "array", "items": {"type": "object"}},
                "devices": {"type": "array", "items": {"type": "object"}},
                "blocks": {"type": "array", "items": {"type": "object"}},
                "memberships": {"type": "array", "items": {"type": "object"}},
                "reports": {"type": "array", "items": {"type": "object"}},
                "messages": {"type": "array", "items": {"type": "object"}},
                "reactions": {"type": "array", "items": {"type": "object"}}
            }
        },
        "SetRoleRequest": {
            "type": "object", "required": ["role"], "additionalProperties": false,
            "properties": {"role": {"type": "string", "enum": ["owner", "admin", "member"]}}
        },
        "UpdateConversationRequest": {
            "type": "object", "additionalProperties": false,
            "properties": {
                "name": {"type": "string", "minLength": 1, "description": "1 to 100 characters once trimmed and NFC-normalised (the stored form); no control or bidirectional control characters"},
                "description": {"type": "string", "nullable": true,
                                "description": "At most 500 characters once trimmed; null or empty: no description"}
            }
        }
    })
}
