//! Who may do what in a conversation: roles, conversation kinds, and the one pure decision that
//! REST, WebSocket events and fan-out all consult. Membership itself is looked up by the caller.

use serde::{Deserialize, Serialize};

/// A member's role in a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    /// The role as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    /// Parses a stored role.
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }
}

/// Direct message between two people, or a named group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConversationKind {
    Dm,
    Group,
}

impl ConversationKind {
    /// The kind as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationKind::Dm => "dm",
            ConversationKind::Group => "group",
        }
    }

    /// Parses a stored kind.
    pub fn parse(text: &str) -> Option<ConversationKind> {
        match text {
            "dm" => Some(ConversationKind::Dm),
            "group" => Some(ConversationKind::Group),
            _ => None,
        }
    }
}

/// Something a member asks to do in a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// See the conversation, its members and its history.
    Read,
    /// Post a message.
    Send,
    /// Add someone with `role`.
    AddMember { role: Role },
    /// Remove another member whose role is `target`.
    RemoveMember { target: Role },
    /// Remove oneself.
    Leave,
    /// Rename the group or change its description.
    Update,
    /// Give another member whose role is `target` the role `to` (`Owner`: hand the group over;
    /// the actor becomes an admin).
    SetRole { target: Role, to: Role },
    /// Delete the group, its members and its history.
    Delete,
    /// Change how long the conversation keeps its messages.
    SetRetention,
}

/// Why a member may not act. Non-members never get here: they are told "not found".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("a direct message always has exactly its two members")]
    DirectMessage,
    #[error("your role in this conversation does not allow that")]
    Role,
}

/// Whether a member with `role` may take `action` in a conversation of `kind`.
pub fn allowed(kind: ConversationKind, role: Role, action: Action) -> Result<(), Denied> {
    match action {
        Action::Read | Action::Send => Ok(()),
        Action::AddMember { .. }
        | Action::RemoveMember { .. }
        | Action::Leave
        | Action::Update
        | Action::SetRole { .. }
        | Action::Delete
            if kind == ConversationKind::Dm =>
        {
            Err(Denied::DirectMessage)
        }
        Action::Leave => Ok(()),
        // Owners add anyone but another owner; admins add plain members.
        Action::AddMember { role: new } => match (role, new) {
            (_, Role::Owner) => Err(Denied::Role),
            (Role::Owner, _) | (Role::Admin, Role::Member) => Ok(()),
            _ => Err(Denied::Role),
        },
        // Owners remove anyone else; admins remove plain members.
        Action::RemoveMember { target } => match (role, target) {
            (Role::Owner, Role::Admin | Role::Member) | (Role::Admin, Role::Member) => Ok(()),
            _ => Err(Denied::Role),
        },
        // Owners and admins rename and describe.
        Action::Update => match role {
            Role::Owner | Role::Admin => Ok(()),
            Role::Member => Err(Denied::Role),
        },
        // Only the owner changes roles, of anyone but itself (it steps down by naming another
        // owner).
        Action::SetRole { target, .. } => match (role, target) {
            (Role::Owner, Role::Admin | Role::Member) => Ok(()),
            _ => Err(Denied::Role),
        },
        Action::Delete => match role {
            Role::Owner => Ok(()),
            _ => Err(Denied::Role),
        },
        // Either member of a DM; the owner of a group.
        Action::SetRetention => match (kind, role) {
            (ConversationKind::Dm, _) | (_, Role::Owner) => Ok(()),
            _ => Err(Denied::Role),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConversationKind::{Dm, Group};
    use Role::{Admin, Member, Owner};

    #[test]
    fn policy_table() {
        let ok = Ok(());
        let role = Err(Denied::Role);
        let dm = Err(Denied::DirectMessage);
        let cases = [
            (Group, Member, Action::Read, ok),
            (Dm, Member, Action::Send, ok),
            (Group, Owner, Action::AddMember { role: Admin }, ok),
            (Group, Owner, Action::AddMember { role: Member }, ok),
            (Group, Owner, Action::AddMember { role: Owner }, role),
            (Group, Admin, Action::AddMember { role: Member }, ok),
            (Group, Admin, Action::AddMember { role: Admin }, role),
            (Group, Member, Action::AddMember { role: Member }, role),
            (Group, Owner, Action::RemoveMember { target: Admin }, ok),
            (Group, Owner, Action::RemoveMember { target: Owner }, role),
            (Group, Admin, Action::RemoveMember { target: Member }, ok),
            (Group, Admin, Action::RemoveMember { target: Admin }, role),
            (Group, Member, Action::RemoveMember { target: Member }, role),
            (Group, Member, Action::Leave, ok),
            (Group, Owner, Action::Leave, ok),
            (Dm, Member, Action::Leave, dm),
            (Dm, Owner, Action::AddMember { role: Member }, dm),
            (Dm, Owner, Action::RemoveMember { target: Member }, dm),
            (Group, Owner, Action::Update, ok),
            (Group, Admin, Action::Update, ok),
            (Group, Member, Action::Update, role),
            (Dm, Member, Action::Update, dm),
            (
                Group,
                Owner,
                Action::SetRole {
                    target: Member,
                    to: Admin,
                },
                ok,
            ),
            (
                Group,
                Owner,
                Action::SetRole {
                    target: Admin,
                    to: Member,
                },
                ok,
            ),
            (
                Group,
                Owner,
                Action::SetRole {
                    target: Member,
                    to: Owner,
                },
                ok,
            ),
            (
                Group,
                Owner,
                Action::SetRole {
                    target: Owner,
                    to: Admin,
                },
                role,
            ),
            (
                Group,
                Admin,
                Action::SetRole {
                    target: Member,
                    to: Admin,
                },
                role,
            ),
            (
                Group,
                Admin,
                Action::SetRole {
                    target: Member,
                    to: Member,
                },
                role,
            ),
            (
                Group,
                Member,
                Action::SetRole {
                    target: Member,
                    to: Admin,
                },
                role,
            ),
            (Group, Owner, Action::Delete, ok),
            (Group, Admin, Action::Delete, role),
            (Group, Member, Action::Delete, role),
            (Dm, Owner, Action::Delete, dm),
            (Group, Owner, Action::SetRetention, ok),
            (Group, Admin, Action::SetRetention, role),
            (Dm, Member, Action::SetRetention, ok),
        ];
        for (kind, who, action, want) in cases {
            assert_eq!(
                allowed(kind, who, action),
                want,
                "{kind:?} {who:?} {action:?}"
            );
        }
    }

    #[test]
    fn names_round_trip() {
        for role in [Owner, Admin, Member] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        for kind in [Dm, Group] {
            assert_eq!(ConversationKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
