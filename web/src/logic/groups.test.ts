import { describe, expect, it } from "vitest";
import { canAdd, canChangeRole, canDeleteGroup, canEditGroup, canRemove, leaveNeedsHeir, type Role } from "./groups";

const roles: Role[] = ["owner", "admin", "member"];

describe("group policy, as the server's table", () => {
  it("decides each action by role", () => {
    const table: [string, (me: Role, them: Role) => boolean, string[]][] = [
      ["add", canAdd, ["owner>admin", "owner>member", "admin>member"]],
      ["remove", canRemove, ["owner>admin", "owner>member", "admin>member"]],
      ["role", canChangeRole, ["owner>admin", "owner>member"]],
    ];
    for (const [name, allowed, expected] of table) {
      const got = roles.flatMap((me) => roles.filter((them) => allowed(me, them)).map((them) => `${me}>${them}`));
      expect(got, name).toEqual(expected);
    }
    expect(roles.filter(canEditGroup)).toEqual(["owner", "admin"]);
    expect(roles.filter(canDeleteGroup)).toEqual(["owner"]);
  });

  it("asks the owner for a new owner before leaving, unless alone", () => {
    expect(leaveNeedsHeir("owner", 3)).toBe(true);
    expect(leaveNeedsHeir("owner", 1)).toBe(false);
    expect(leaveNeedsHeir("admin", 3)).toBe(false);
  });
});
