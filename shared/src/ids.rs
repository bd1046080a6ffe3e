//! Typed ids. Inside Parley they are UUIDs (v7, time-ordered); on the wire they carry a prefix
//! (`usr_`, `conv_`, `msg_`) followed by the UUID's 32 hex digits, so an id says what it names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// Why a string is not an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {kind} id (expected `{prefix}` followed by 32 hex digits)")]
pub struct IdError {
    pub kind: &'static str,
    pub prefix: &'static str,
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub Uuid);

        impl $name {
            /// The wire prefix, including the underscore.
            pub const PREFIX: &'static str = $prefix;

            /// A new, time-ordered id.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}", $prefix, self.0.simple())
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                let error = IdError { kind: $kind, prefix: $prefix };
                let hex = text.strip_prefix($prefix).ok_or(error.clone())?;
                if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                    return Err(error);
                }
                Uuid::try_parse(hex).map(Self).map_err(|_| error)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

prefixed_id!(
    /// A user: `usr_…`.
    UserId, "usr_", "user"
);
prefixed_id!(
    /// A conversation (DM or group): `conv_…`.
    ConversationId, "conv_", "conversation"
);
prefixed_id!(
    /// A message: `msg_…`.
    MessageId, "msg_", "message"
);
prefixed_id!(
    /// A login session (one refresh-token family): `ses_…`. Never shown to other users.
    SessionId, "ses_", "session"
);
prefixed_id!(
    /// A device registered for push: `dev_…`. Shown only to its user.
    DeviceId, "dev_", "device"
);
prefixed_id!(
    /// A member's report of a message, for the server admins: `rpt_…`.
    ReportId, "rpt_", "report"
);
prefixed_id!(
    /// A user's export of their data: `exp_…`. Shown only to its user.
    ExportId, "exp_", "export"
);
prefixed_id!(
    /// An uploaded file, and the attachment it becomes once a message holds it: `att_…`.
    AttachmentId, "att_", "attachment"
);
prefixed_id!(
    /// One running gateway process: `ins_…`, new at every start, so an address from before a
    /// restart never matches a connection of the new process.
    InstanceId, "ins_", "instance"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects_table() {
        let id = UserId::generate();
        let text = id.to_string();
        assert!(text.starts_with("usr_") && text.len() == 36, "{text}");
        assert_eq!(text.parse::<UserId>(), Ok(id));
        let json = serde_json::to_string(&id).expect("serialise");
        assert_eq!(serde_json::from_str::<UserId>(&json).expect("parse"), id);

        let valid_hex = id.0.simple().to_string();
        let bad = [
            String::new(),
            valid_hex.clone(),
            format!("conv_{valid_hex}"),
            format!("usr_{}", &valid_hex[..31]),
            format!("usr_{valid_hex}0"),
            format!("usr_{}", valid_hex.to_uppercase()),
            format!("usr_{}", id.0.hyphenated()),
            "usr_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz".to_owned(),
        ];
        for text in bad {
            assert!(text.parse::<UserId>().is_err(), "{text:?} must be refused");
        }
        assert!(
            format!("conv_{valid_hex}")
                .parse::<ConversationId>()
                .is_ok()
        );
    }
}
