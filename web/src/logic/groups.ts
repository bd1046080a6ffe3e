// What a group member may do in the group info panel, mirroring the server's policy table
// (shared/src/policy.rs; the server has the last word): owners and admins rename and describe;
// owners add admins and members, admins add members; owners remove admins and members, admins
// remove members; only the owner changes roles (of others: it steps down by handing the group
// over); only the owner deletes the group; the owner leaves by naming a new owner. Pure.

import type { Member } from "@parley/protocol";

export type Role = Member["role"];

export function canEditGroup(me: Role): boolean {
  return me === "owner" || me === "admin";
}

export function canAdd(me: Role, role: Role): boolean {
  if (role === "owner") return false;
  return me === "owner" || (me === "admin" && role === "member");
}

export function canRemove(me: Role, them: Role): boolean {
  return (me === "owner" && them !== "owner") || (me === "admin" && them === "member");
}

export function canChangeRole(me: Role, them: Role): boolean {
  return me === "owner" && them !== "owner";
}

export function canDeleteGroup(me: Role): boolean {
  return me === "owner";
}

/** Whether leaving needs a new owner named first (the owner, with others still there). */
export function leaveNeedsHeir(me: Role, members: number): boolean {
  return me === "owner" && members > 1;
}

export function roleLabel(role: Role): string {
  return { owner: "Owner", admin: "Admin", member: "Member" }[role];
}
