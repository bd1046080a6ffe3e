//! Component schemas of moderation: password reset, reports, the admins' views of accounts and
//! of the audit log.

use serde_json::{Value, json};

use super::schemas::{id, timestamp};

/// The schemas, by name.
pub(super) fn schemas() -> Value {
    json!({
        "PasswordResetRequest": {
            "type": "object", "required": ["token", "newPassword"], "additionalProperties": false,
            "properties": {
                "token": {"type": "string", "description": "From the reset link's fragment (#token=...)"},
                "newPassword": {"type": "string", "minLength": 8}
            }
        },
        "ReportRequest": {
            "type": "object", "required": ["reason"], "additionalProperties": false,
            "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 1000}}
        },
        "Report": {
            "type": "object",
            "required": ["id", "messageId", "conversationId", "reportedUserId", "reporterId", "reason",
                         "status", "resolution", "resolvedBy", "resolvedAt", "createdAt"],
            "properties": {
                "id": id("rpt_"),
                "messageId": id("msg_"),
                "conversationId": id("conv_"),
                "reportedUserId": id("usr_"),
                "reporterId": id("usr_"),
                "reason": {"type": "string"},
                "status": {"type": "string", "enum": ["open", "resolved"]},
                "resolution": {"type": "string", "nullable": true,
                               "enum": ["dismissed", "message_deleted", "user_deactivated", null]},
                "resolvedBy": {"allOf": [id("usr_")], "nullable": true},
                "resolvedAt": timestamp(true),
                "createdAt": timestamp(false)
            }
        },
        "ResolveReportRequest": {
            "type": "object", "required": ["action"], "additionalProperties": false,
            "properties": {"action": {"type": "string", "enum": ["dismiss", "delete_message", "deactivate_user"]}}
        },
        "AdminUser": {
            "type": "object",
            "required": ["id", "username", "displayName", "isAdmin", "deactivated", "deactivatedAt", "createdAt"],
            "properties": {
                "id": id("usr_"),
                "username": {"type": "string"},
                "displayName": {"type": "string"},
                "isAdmin": {"type": "boolean"},
                "deactivated": {"type": "boolean"},
                "deactivatedAt": timestamp(true),
                "createdAt": timestamp(false)
            }
        },
        "AuditEntry": {
            "type": "object",
            "required": ["id", "at", "actorId", "action", "targetUserId", "conversationId", "messageId",
                         "clientIp", "userAgent", "details"],
            "properties": {
                "id": {"type": "string", "description": "Also the cursor of the next page"},
                "at": timestamp(false),
                "actorId": {"allOf": [id("usr_")], "nullable": true, "description": "null: the operator's command line"},
                "action": {"type": "string", "description": "e.g. user.deactivated, mfa.enabled, member.added"},
                "targetUserId": {"allOf": [id("usr_")], "nullable": true},
                "conversationId": {"allOf": [id("conv_")], "nullable": true},
                "messageId": {"allOf": [id("msg_")], "nullable": true},
                "clientIp": {"type": "string", "nullable": true},
                "userAgent": {"type": "string", "nullable": true},
                "details": {"type": "object", "nullable": true, "description": "Never message content"}
            }
        }
    })
}
