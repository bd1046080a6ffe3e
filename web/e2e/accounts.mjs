// Browser scenarios of issue 18's account pages: two-factor sign-in set up with a code computed
// here from the shared secret (RFC 6238, as an authenticator app does), used at login, a
// recovery code used instead, and turned off; the profile's display name; blocking from a DM;
// a report handled in the admin panel; an operator's reset link; a data export and an account
// deletion.

import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { assert, exactly, logIn, openDm, row, send, signUp, waitStatus } from "./helpers.mjs";

const PASSWORD = "correct horse battery";
const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function fromBase32(text) {
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of text.replace(/[\s=]/g, "").toUpperCase()) {
    value = (value << 5) | BASE32.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** The TOTP code of `step` (30 s steps since the epoch). */
function totp(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const digest = createHmac("sha1", secret).update(counter).digest();
  const offset = digest[digest.length - 1] & 0x0f;
  const word = digest.readUInt32BE(offset) & 0x7fffffff;
  return String(word % 1_000_000).padStart(6, "0");
}

const stepNow = () => Math.floor(Date.now() / 30_000);

async function logInWithCode(user, code) {
  const page = user.page;
  await page.getByLabel("Username").fill(user.username);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Log in", exact: true }).click();
  const step = page.getByRole("form", { name: "Two-factor sign-in" });
  await step.getByLabel("Code").fill(code);
  await step.getByRole("button", { name: "Verify" }).click();
  await page.getByRole("button", { name: "New conversation" }).waitFor();
}

async function logOut(user) {
  await user.page.getByRole("button", { name: "Log out", exact: true }).click();
  await user.page.getByRole("button", { name: "Log in", exact: true }).waitFor();
}

export const accountScenarios = {
  async "two-factor sign-in: set up with an authenticator's code, then a code or a recovery code at login"({
    browser,
    server,
    shot,
  }) {
    const wyn = await signUp(browser, server, "Wyn");
    const page = wyn.page;
    await page.getByRole("button", { name: "Account" }).click();
    const setup = page.getByRole("form", { name: "Set up two-factor sign-in" });
    await setup.getByLabel("Password").fill(PASSWORD);
    await setup.getByRole("button", { name: "Set up two-factor sign-in" }).click();
    const secret = fromBase32(await page.getByTestId("mfa-secret").innerText());
    assert(secret.length === 20, `secret of ${secret.length} bytes`);
    const first = stepNow();
    const confirm = page.getByRole("form", { name: "Confirm two-factor sign-in" });
    await confirm.getByLabel("Code from the app").fill(totp(secret, first));
    await confirm.getByRole("button", { name: "Turn on" }).click();
    const list = page.getByRole("list", { name: "Recovery codes" }).getByRole("listitem");
    await list.first().waitFor();
    const codes = await list.allInnerTexts();
    assert(codes.length === 10, `${codes.length} recovery codes`);
    await shot(page, "two-factor-codes");
    await page.getByRole("button", { name: "I have saved them" }).click();
    await page.getByText("Two-factor sign-in is on. 10 recovery codes left.").waitFor();

    // Login: the password, then the next step's code (the confirming one is used up).
    await logOut(wyn);
    await logInWithCode(wyn, totp(secret, first + 1));
    // A recovery code instead; the same one again is refused.
    await logOut(wyn);
    await logInWithCode(wyn, codes[0]);
    await logOut(wyn);
    await page.getByLabel("Username").fill(wyn.username);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Log in", exact: true }).click();
    const step = page.getByRole("form", { name: "Two-factor sign-in" });
    await step.getByLabel("Code").fill(codes[0]);
    await step.getByRole("button", { name: "Verify" }).click();
    await step.getByRole("alert").waitFor();
    await step.getByLabel("Code").fill(codes[1]);
    await step.getByRole("button", { name: "Verify" }).click();
    await page.getByRole("button", { name: "New conversation" }).waitFor();

    // Off with the password and a recovery code: login is one step again.
    await page.getByRole("button", { name: "Account" }).click();
    await page.getByText("Two-factor sign-in is on. 8 recovery codes left.").waitFor();
    const off = page.getByRole("form", { name: "Turn off two-factor sign-in" });
    await off.getByLabel("Password").fill(PASSWORD);
    await off.getByLabel("Code (or a recovery code)").fill(codes[2]);
    await off.getByRole("button", { name: "Turn off" }).click();
    await page.getByRole("form", { name: "Set up two-factor sign-in" }).waitFor();
    await logOut(wyn);
    await page.getByLabel("Username").fill(wyn.username);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Log in", exact: true }).click();
    await page.getByRole("button", { name: "New conversation" }).waitFor();
    await wyn.context.close();
  },

  async "a display name changes, and a blocked person's messages are refused until unblocked"({ browser, server, shot }) {
    const xia = await signUp(browser, server, "Xia");
    const yan = await signUp(browser, server, "Yan");
    await openDm(yan, xia);
    await send(yan, "hello xia");
    await xia.page.getByRole("complementary", { name: "Conversations" }).getByRole("button", { name: /Yan/ }).click();
    await exactly(xia, "hello xia").waitFor();
    xia.page.once("dialog", (dialog) => void dialog.accept());
    await xia.page.getByRole("button", { name: "Block Yan" }).click();
    await xia.page.getByRole("button", { name: "Unblock Yan" }).waitFor();
    await send(yan, "are you there?");
    await waitStatus(yan, "are you there?", "error");
    await xia.page.waitForTimeout(300);
    assert((await exactly(xia, "are you there?").count()) === 0, "a blocked message arrived");

    // The account panel: the profile's name, and the blocked list with Unblock.
    await xia.page.getByRole("button", { name: "Account" }).click();
    const profile = xia.page.getByRole("form", { name: "Profile" });
    await profile.getByLabel("Display name").fill("Xia Li");
    await profile.getByRole("button", { name: "Save name" }).click();
    await profile.getByRole("status").filter({ hasText: "Display name saved." }).waitFor();
    await xia.page.locator(".sidebar-header .me").filter({ hasText: "Xia Li" }).waitFor();
    const blocked = xia.page.getByRole("region", { name: "Blocked people" });
    await blocked.getByText("Yan", { exact: true }).waitFor();
    await shot(xia.page, "blocked-people");
    await blocked.getByRole("button", { name: "Unblock" }).click();
    await blocked.getByText("Nobody.").waitFor();
    await send(yan, "now?");
    await exactly(xia, "now?").waitFor();
    for (const who of [xia, yan]) await who.context.close();
  },

  async "a member reports a message, an admin deletes it from the queue, and a reset link sets a new password"({ browser, server, shot }) {
    const ria = await signUp(browser, server, "Ria");
    const sam = await signUp(browser, server, "Sam");
    await openDm(sam, ria);
    await send(sam, "buy cheap pills now");
    await ria.page.getByRole("complementary", { name: "Conversations" }).getByRole("button", { name: /Sam/ }).click();
    const theirs = row(ria, "buy cheap pills now");
    await theirs.hover();
    await theirs.getByRole("button", { name: "Message actions" }).click();
    await ria.page.getByRole("menuitem", { name: "Report" }).click();
    const form = ria.page.getByRole("form", { name: "Report message" });
    await form.getByLabel("Why are you reporting this message?").fill("spam");
    await form.getByRole("button", { name: "Report" }).click();
    await ria.page.getByRole("status").filter({ hasText: "Reported." }).waitFor();
    await ria.page.getByRole("button", { name: "Close", exact: true }).click();

    // An operator makes Ops an admin; at the next login the Admin panel is there.
    const ops = await signUp(browser, server, "Ops");
    const said = server.admin("grant", ops.username);
    assert(said.includes("is now a server admin"), said);
    await ops.context.close();
    const admin = await logIn(browser, server, ops.username, PASSWORD);
    await admin.page.getByRole("button", { name: "Admin", exact: true }).click();
    const reports = admin.page.getByRole("list", { name: "Reports" });
    const report = reports.getByRole("listitem").filter({ hasText: "spam" });
    await report.waitFor();
    await shot(admin.page, "admin-reports");
    await report.getByRole("button", { name: "Delete message" }).click();
    await admin.page.getByText("No reports.").waitFor();
    await exactly(ria, "Message deleted").waitFor();
    await exactly(sam, "Message deleted").waitFor();
    await admin.page.getByRole("list", { name: "Audit log" }).getByText("message.deleted_by_admin").waitFor();
    await admin.context.close();

    // A reset link for Sam: a new password, every session ended, the new one signs in.
    const link = server.admin("reset-password", sam.username, "--url", server.base).split("\n")[0];
    assert(link.startsWith(`${server.base}/reset-password#token=`), link);
    await sam.page.goto(link);
    const reset = sam.page.getByRole("form", { name: "Choose a new password" });
    await reset.getByLabel("New password", { exact: true }).fill("a brand new secret");
    await reset.getByLabel("New password again").fill("a brand new secret");
    await reset.getByRole("button", { name: "Set password" }).click();
    await sam.page.getByText("Your password is changed").waitFor();
    assert(!sam.page.url().includes("token="), "the spent link stays in the address bar");
    await sam.page.getByRole("button", { name: "Log in" }).click();
    await sam.page.getByLabel("Username").fill(sam.username);
    await sam.page.getByLabel("Password").fill("a brand new secret");
    await sam.page.getByRole("button", { name: "Log in", exact: true }).click();
    await sam.page.getByRole("button", { name: "New conversation" }).waitFor();
    for (const who of [ria, sam]) await who.context.close();
  },

  async "a DM keeps messages 7 days; a user downloads an export of their data once, then deletes their account"({ browser, server, shot }) {
    const una = await signUp(browser, server, "Una");
    const vic = await signUp(browser, server, "Vic");
    await openDm(una, vic);
    await send(una, "keep this in my export");
    await waitStatus(una, "keep this in my export", "delivered");
    await vic.page.getByRole("complementary", { name: "Conversations" }).getByRole("button", { name: /Una/ }).waitFor();

    const page = una.page;
    // Either member of a DM decides how long its messages stay; the other sees it in the timeline.
    await page.getByRole("button", { name: "Conversation info" }).click();
    await page.getByRole("dialog", { name: "Conversation info" }).getByLabel("Keep messages for").selectOption("7d");
    await vic.page.getByRole("complementary", { name: "Conversations" }).getByRole("button", { name: /Una/ }).click();
    await vic.page.getByTestId("system-message").filter({ hasText: "Una set messages here to be deleted after 7 days" }).waitFor();
    await page.getByRole("dialog", { name: "Conversation info" }).getByRole("button", { name: "Close" }).click();
    await page.getByRole("button", { name: "Account" }).click();
    const data = page.getByRole("region", { name: "Export your data" });
    await data.getByRole("button", { name: "Export my data" }).click();
    const ready = data.getByRole("list", { name: "Exports" }).getByRole("button", { name: "Download" });
    await ready.waitFor();
    const [download] = await Promise.all([page.waitForEvent("download"), ready.click()]);
    const archive = JSON.parse(readFileSync(await download.path(), "utf8"));
    assert(archive.format === "parley-export/1", "not an export");
    assert(archive.messages.some((m) => m.content === "keep this in my export"), "the message is missing");
    await data.getByText("Downloaded", { exact: true }).waitFor();
    await shot(page, "export");

    const danger = page.getByRole("region", { name: "Delete account" });
    await danger.getByRole("button", { name: "Delete my account" }).click();
    const form = danger.getByRole("form", { name: "Confirm account deletion" });
    await form.getByLabel("Password").fill(PASSWORD);
    await form.getByRole("button", { name: "Delete forever" }).click();
    await page.getByRole("button", { name: "Log in", exact: true }).waitFor();
    // Vic keeps the DM, closed, with Una's message emptied and her name gone.
    await vic.page.getByTestId("system-message").filter({ hasText: "Deleted user deleted their account; this conversation is closed" }).waitFor();
    await vic.page.getByRole("complementary", { name: "Conversations" }).getByRole("button", { name: /Deleted user/ }).waitFor();
    for (const who of [una, vic]) await who.context.close();
  },
};
