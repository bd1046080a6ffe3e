//! Component schemas of files: an attachment, and what it adds to a message, a send and a data
//! export.

use serde_json::{Value, json};

use super::schemas::id;

/// The `Attachment` schema.
pub(super) fn schemas() -> Value {
    json!({
        "Attachment": {
            "type": "object", "required": ["id", "name", "mimeType", "kind", "size", "thumbnails"],
            "properties": {
                "id": id("att_"),
                "name": {"type": "string", "minLength": 1, "maxLength": 255},
                "mimeType": {"type": "string", "description": "Sniffed from the bytes, never taken from the client"},
                "kind": {"type": "string", "enum": ["image", "file"]},
                "size": {"type": "integer", "minimum": 1},
                "width": {"type": "integer", "minimum": 1, "description": "An image's, as shown"},
                "height": {"type": "integer", "minimum": 1},
                "thumbnails": {"type": "array", "items": {"type": "integer", "enum": [320, 1280]},
                               "description": "Sizes at /api/attachments/{id}/thumbnails/{size}"}
            }
        }
    })
}

/// Adds attachments to `Message`, `SendMessageRequest` and `ExportArchive` in `all`.
pub(super) fn extend(all: &mut Value) {
    let attachments = json!({"type": "array", "items": {"$ref": "#/components/schemas/Attachment"}, "maxItems": 10});
    let message = &mut all["Message"];
    message["properties"]["attachments"] = attachments;
    message["properties"]["contentType"] =
        json!({"type": "string", "enum": ["text", "system", "image", "file"]});
    if let Some(required) = message["required"].as_array_mut() {
        required.push(json!("attachments"));
    }
    let send = &mut all["SendMessageRequest"];
    send["properties"]["attachments"] = json!({"type": "array", "items": id("att_"), "maxItems": 10,
        "description": "Uploads (POST /api/uploads) this message holds; then content may be empty"});
    send["properties"]["content"] = json!({"type": "string", "maxLength": 4000,
        "description": "1 to 4000 characters; may be empty (or left out) with attachments"});
    send["properties"]["contentType"] = json!({"type": "string", "enum": ["text", "image", "file"],
        "description": "image or file with attachments (left out: image when every attachment is one)"});
    send["required"] = json!(["clientMessageId"]);
    let archive = &mut all["ExportArchive"];
    archive["properties"]["uploads"] = json!({"type": "array", "items": {"type": "object"},
        "description": "Your uploads: id, name, mimeType, size, createdAt, attachedAt (each message lists its attachments)"});
    if let Some(required) = archive["required"].as_array_mut() {
        required.push(json!("uploads"));
    }
}
