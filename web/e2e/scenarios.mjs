// The scenarios of issue 7's acceptance, each with fresh users (names made unique per run).

import { webPushRoundTrip } from "./webpush.mjs";
import {
  TIMEOUT,
  cspViolations,
  unique,
  assert,
  logIn,
  signUp,
  openDm,
  send,
  restSender,
  waitStatus,
  bubble,
  row,
  exactly,
} from "./helpers.mjs";
import { accountScenarios } from "./accounts.mjs";
import { fileScenarios } from "./files.mjs";
import { groupScenarios } from "./groups.mjs";
import { notificationScenarios } from "./notifications.mjs";

export const scenarios = {
  async "two people chat in a DM: ticks, typing, unread badge, presence"({ browser, server, shot }) {
    const alice = await signUp(browser, server, "Alice", undefined, shot);
    const bob = await signUp(browser, server, "Bob");
    // A page load is not a reconnect: the connection bar says nothing.
    await bob.page.reload();
    await bob.page.getByRole("button", { name: "New conversation" }).waitFor();
    await bob.page.waitForTimeout(1500);
    assert((await bob.page.locator(".status-bar").count()) === 0, "the connection bar showed on a page load");
    await openDm(alice, bob);
    await send(alice, "Hello Bob, <b>not bold</b>");
    await waitStatus(alice, "Hello Bob", "delivered");
    // Text is text: the markup shows literally, nothing is parsed.
    assert((await alice.page.locator("b", { hasText: "not bold" }).count()) === 0, "content rendered as HTML");

    // Bob sees the conversation with an unread badge, opens it: the badge clears, Alice's tick
    // turns to read.
    const item = bob.page.getByRole("button", { name: /^Alice.*1 unread$/ });
    await item.waitFor();
    await shot(bob.page, "unread-badge");
    await item.click();
    await bubble(bob, "Hello Bob, <b>not bold</b>").waitFor();
    await waitStatus(alice, "Hello Bob", "read");
    await bob.page.getByTestId("unread-badge").waitFor({ state: "detached" });
    assert((await bob.page.getByTestId("unread-badge").count()) === 0, "badge still shown after reading");

    // Presence: Bob sees Alice online.
    await bob.page.getByTestId("presence-text").filter({ hasText: "Online" }).waitFor();

    // Typing: Bob types, Alice sees it; sending stops it.
    await bob.page.getByLabel("Message", { exact: true }).pressSequentially("Hi Al", { delay: 30 });
    await alice.page.getByTestId("typing").filter({ hasText: "Bob is typing..." }).waitFor();
    await shot(alice.page, "typing");
    await bob.page.getByLabel("Message", { exact: true }).press("Enter");
    await bubble(alice, "Hi Al").waitFor();
    await alice.page.getByTestId("typing").filter({ hasText: /^$/ }).waitFor();
    // Alice has the conversation open: Bob's reply is read at once, no badge stays.
    await waitStatus(bob, "Hi Al", "read");
    assert((await alice.page.getByTestId("unread-badge").count()) === 0, "open conversation kept a badge");
    await shot(alice.page, "chat");

    // Alice leaves: after the grace period Bob sees "Last seen ...".
    await alice.context.close();
    await bob.page.getByTestId("presence-text").filter({ hasText: /Last seen/ }).waitFor();
    await shot(bob.page, "last-seen");
    await bob.context.close();
  },

  async "a group shows Read by N"({ browser, server, shot }) {
    const ann = await signUp(browser, server, "Ann");
    const ben = await signUp(browser, server, "Ben");
    const cat = await signUp(browser, server, "Cat");
    await ann.page.getByRole("button", { name: "New conversation" }).click();
    for (const who of [ben, cat]) {
      await ann.page.getByLabel("Find people").fill(who.username);
      await ann.page.getByRole("button", { name: "Add to group" }).click();
    }
    await ann.page.getByLabel("Group name").fill("Lunch");
    await ann.page.getByRole("button", { name: "Create group" }).click();
    await ann.page.getByRole("heading", { name: "Lunch" }).waitFor();
    await send(ann, "Pizza at noon?");
    await waitStatus(ann, "Pizza at noon?", "delivered");
    for (const who of [ben, cat]) {
      await who.page.getByRole("complementary", { name: "Conversations" }).getByRole("button", { name: /Lunch/ }).click();
      await bubble(who, "Pizza at noon?").waitFor();
    }
    await ann.page.getByTestId("read-by").filter({ hasText: "Read by 2" }).waitFor();
    await ann.page.getByTestId("read-by").click();
    await ann.page.getByRole("dialog", { name: "Read by" }).getByText("Ben").waitFor();
    await shot(ann.page, "read-by");
    for (const who of [ann, ben, cat]) await who.context.close();
  },

  async "a gateway restart shows the status bar and loses nothing"({ browser, server, shot }) {
    const dan = await signUp(browser, server, "Dan");
    const eva = await signUp(browser, server, "Eva");
    await openDm(dan, eva);
    await send(dan, "before the restart");
    await waitStatus(dan, "before the restart", "delivered");
    await eva.page.getByRole("complementary", { name: "Conversations" }).getByRole("button", { name: /Dan/ }).click();
    await bubble(eva, "before the restart").waitFor();

    const restarting = server.restart();
    await dan.page.getByRole("status").filter({ hasText: "Reconnecting..." }).waitFor();
    await shot(dan.page, "reconnecting");
    // Sent while the server is down: stays pending ("sending", then the slow note), goes out
    // after the reconnect, once.
    await send(dan, "during the outage");
    await waitStatus(dan, "during the outage", "sending");
    await restarting;
    await waitStatus(dan, "during the outage", "read");
    await bubble(eva, "during the outage").waitFor();
    assert((await bubble(eva, "during the outage").count()) === 1, "duplicated after reconnect");
    await dan.page.getByRole("status").filter({ hasText: "Reconnecting..." }).waitFor({ state: "detached" });
    await dan.context.close();
    await eva.context.close();
  },

  async "on a phone the list and the chat slide one at a time"({ browser, server, shot }) {
    const phone = { width: 390, height: 844 };
    const fay = await signUp(browser, server, "Fay", phone);
    const gus = await signUp(browser, server, "Gus", phone);
    await openDm(fay, gus);
    await send(fay, "hi from my phone");
    await waitStatus(fay, "hi from my phone", "delivered");
    assert(!(await fay.page.getByRole("complementary", { name: "Conversations" }).isVisible()), "list beside the chat");
    await shot(fay.page, "phone-chat");
    await fay.page.getByRole("button", { name: "Back to conversations" }).click();
    await fay.page.getByRole("complementary", { name: "Conversations" }).waitFor();
    await shot(fay.page, "phone-list");
    // The conversation is the route: the phone's Back and Forward move between list and chat,
    // and a reload keeps the chat open.
    await fay.page.getByRole("complementary", { name: "Conversations" }).getByRole("button", { name: /Gus/ }).click();
    await fay.page.getByRole("heading", { name: "Gus" }).waitFor();
    assert(/^\/c\/conv_/.test(new URL(fay.page.url()).pathname), `no route: ${fay.page.url()}`);
    await fay.page.goBack();
    await fay.page.getByRole("complementary", { name: "Conversations" }).waitFor();
    assert(!(await fay.page.getByRole("heading", { name: "Gus" }).isVisible()), "Back left the chat open");
    await fay.page.goForward();
    await fay.page.getByRole("heading", { name: "Gus" }).waitFor();
    await fay.page.reload();
    await bubble(fay, "hi from my phone").waitFor();
    // The draft stays with its conversation, across a reload.
    await fay.page.getByLabel("Message", { exact: true }).fill("half a thought");
    await fay.page.waitForTimeout(500);
    await fay.page.reload();
    assert(
      (await fay.page.getByLabel("Message", { exact: true }).inputValue()) === "half a thought",
      "draft lost on reload",
    );
    await fay.context.close();
    await gus.context.close();
  },

  async "history loads older pages when scrolled to the top"({ browser, server }) {
    const hal = await signUp(browser, server, "Hal");
    const ivy = await signUp(browser, server, "Ivy");
    const pages = [];
    ivy.page.on("request", (r) => /\/messages\?.*before=/.test(r.url()) && pages.push(r.url()));
    await openDm(hal, ivy);
    // 130 messages through the REST API (a page is 50).
    const post = await restSender(hal, server);
    for (let n = 1; n <= 130; n++) await post(`seed-${n}`, `history ${n}`);
    await ivy.page.getByRole("complementary", { name: "Conversations" }).getByRole("button", { name: /Hal/ }).click();
    // All 130 are unread (Ivy never read any): the view opens at the divider before the first of
    // the newest page (history 81), and stays there while the page before it loads.
    await ivy.page.getByTestId("new-messages-divider").waitFor();
    await bubble(ivy, "history 81").waitFor();
    const list = ivy.page.getByRole("log", { name: "Messages" });
    // The page before it (31-80) comes in front at once, the view holding its place for a moment
    // after; a reader's wheel or touch would end that at once, a script's scroll does not.
    await exactly(ivy, "history 80").waitFor({ state: "attached" });
    await ivy.page.waitForTimeout(1700);
    await list.evaluate((el) => (el.scrollTop = el.scrollHeight));
    await bubble(ivy, "history 130").waitFor();
    await ivy.page.waitForTimeout(300);
    // Loading a page in front never moves what is on screen: the row at the top stays put. (The
    // page is held back until the row on top is noted.)
    let release;
    const held = new Promise((resolve) => (release = resolve));
    const older = /\/messages\?.*before=/;
    await ivy.page.route(older, async (route) => {
      await held;
      await route.continue();
    });
    // One page at a time: opening near the top loaded the page before, not two (the first page's
    // load settled before its rows were on screen, and the view, still at the top, asked again).
    assert(pages.length === 1, `pages loaded at open: ${pages.length}`);
    await list.evaluate((el) => (el.scrollTop = 0));
    await ivy.page.waitForTimeout(300);
    const anchor = await list.evaluate((el) => {
      const top = el.getBoundingClientRect().top;
      const row = [...el.querySelectorAll("[data-message-id]")].find((r) => r.getBoundingClientRect().bottom > top);
      return { id: row.dataset.messageId, top: row.getBoundingClientRect().top };
    });
    release();
    await exactly(ivy, "history 30").waitFor({ state: "attached" });
    await ivy.page.waitForTimeout(500);
    const moved = await list.evaluate(
      (el, id) => el.querySelector(`[data-message-id="${id}"]`)?.getBoundingClientRect().top ?? null,
      anchor.id,
    );
    assert(moved !== null && Math.abs(moved - anchor.top) < 4, `the view moved: ${anchor.top} -> ${moved}`);
    await ivy.page.unroute(older);
    for (let i = 0; i < 20 && (await exactly(ivy, "history 1").count()) === 0; i++) {
      await list.evaluate((el) => (el.scrollTop = 0));
      await ivy.page.waitForTimeout(300);
    }
    await exactly(ivy, "history 1").waitFor();
    await hal.context.close();
    await ivy.context.close();
  },

  async "search finds a message 500 back and opens the conversation at it"({ browser, server, shot }) {
    const hal = await signUp(browser, server, "Hallie");
    const ivy = await signUp(browser, server, "Ivo");
    await openDm(hal, ivy);
    const post = await restSender(hal, server);
    await post("search-0", "the pineapple pizza question");
    for (let n = 1; n <= 500; n++) await post(`search-${n}`, `filler ${n}`);
    await ivy.page.getByRole("complementary", { name: "Conversations" }).getByRole("button", { name: /Hallie/ }).click();
    await ivy.page.getByTestId("new-messages-divider").waitFor();

    await ivy.page.keyboard.press("Control+k");
    const dialog = ivy.page.getByRole("dialog", { name: "Search messages" });
    await dialog.getByRole("combobox").fill("pineapple");
    const hit = dialog.getByTestId("search-hit").first();
    await hit.waitFor({ timeout: 30_000 });
    assert((await hit.locator("mark").first().textContent()) === "pineapple", "the match is not highlighted");
    await shot(ivy.page, "search");
    await dialog.getByRole("combobox").press("Enter");
    await dialog.waitFor({ state: "detached" });
    // The conversation opens at the message, highlighted, 500 messages back.
    const target = ivy.page.locator(".bubble-row.highlighted").filter({ hasText: "the pineapple pizza question" });
    await target.waitFor();
    await shot(ivy.page, "search-jump");
    // Escape closes the search without picking; in-conversation search is scoped.
    await ivy.page.getByRole("button", { name: "Search in this conversation" }).click();
    const scoped = ivy.page.getByRole("dialog", { name: /Search in Hallie/ });
    await scoped.waitFor();
    await ivy.page.keyboard.press("Escape");
    await scoped.waitFor({ state: "detached" });
    // People search matches any part of a name.
    await ivy.page.getByRole("button", { name: "New conversation" }).click();
    await ivy.page.getByLabel("Find people").fill(hal.username.slice(3, 8));
    await ivy.page.getByText(`@${hal.username}`).waitFor();
    await hal.context.close();
    await ivy.context.close();
  },

  async "account: devices listed, another signed out at once, password changed"({ browser, server, shot }) {
    const desk = await signUp(browser, server, "Kim");
    const phone = await logIn(browser, server, desk.username, "correct horse battery");
    await desk.page.getByRole("button", { name: "Account" }).click();
    const panel = desk.page.getByRole("dialog", { name: "Account security" });
    await panel.waitFor();
    await panel.getByTestId("device").nth(1).waitFor();
    assert((await panel.getByTestId("device").count()) === 2, "two devices signed in");
    await panel.getByText("This device").waitFor();
    await shot(desk.page, "account");
    // Signing the phone out logs it out there at once (its socket closes, its refresh fails).
    await panel.getByRole("button", { name: "Sign out" }).click();
    await phone.page.getByRole("button", { name: "Log in", exact: true }).waitFor();
    await panel.getByTestId("device").nth(1).waitFor({ state: "detached" });

    await panel.getByLabel("Current password", { exact: true }).fill("correct horse battery");
    await panel.getByLabel("New password", { exact: true }).fill("a much better one");
    await panel.getByLabel("Repeat new password", { exact: true }).fill("a much better one");
    await panel.getByRole("button", { name: "Change password" }).click();
    await panel.getByRole("status").filter({ hasText: "Password changed" }).waitFor();
    // Still signed in here; the new password works elsewhere, the old one does not.
    await desk.page.getByRole("button", { name: "New conversation" }).waitFor();
    await phone.page.getByLabel("Username").fill(desk.username);
    await phone.page.getByLabel("Password").fill("correct horse battery");
    await phone.page.getByRole("button", { name: "Log in", exact: true }).click();
    await phone.page.getByRole("alert").waitFor();
    await phone.page.getByLabel("Password").fill("a much better one");
    await phone.page.getByRole("button", { name: "Log in", exact: true }).click();
    await phone.page.getByRole("button", { name: "New conversation" }).waitFor();
    // Escape closes the panel.
    await desk.page.keyboard.press("Escape");
    await panel.waitFor({ state: "detached" });
    await desk.context.close();
    await phone.context.close();
  },

  async "react, reply, edit and delete, each seen on the other side"({ browser, server, shot }) {
    const ann = await signUp(browser, server, "Annika");
    const ben = await signUp(browser, server, "Bendt");
    await openDm(ann, ben);
    await send(ann, "the original text");
    await waitStatus(ann, "the original text", "delivered");
    await ben.page.getByRole("complementary", { name: "Conversations" }).getByRole("button", { name: /Annika/ }).click();
    const theirs = row(ben, "the original text");
    await theirs.waitFor();

    // React: Ben's 👍 shows on Ann's side with its count; a second tap takes it back.
    await theirs.hover();
    await theirs.getByRole("button", { name: "Message actions" }).click();
    await shot(ben.page, "message-actions");
    await ben.page.getByRole("menuitem", { name: "React with 👍" }).click();
    await row(ann, "the original text").getByRole("button", { name: /^👍 1/ }).waitFor();
    await theirs.getByRole("button", { name: /^👍 1/ }).click();
    await row(ann, "the original text").getByRole("button", { name: /^👍/ }).waitFor({ state: "detached" });

    // Reply: quoted in the composer and on the message; the quote leads back to the original.
    await theirs.getByRole("button", { name: "Message actions" }).click();
    await ben.page.getByRole("menuitem", { name: "Reply" }).click();
    await ben.page.getByTestId("reply-preview").filter({ hasText: "the original text" }).waitFor();
    await send(ben, "my answer to it");
    const reply = row(ann, "my answer to it");
    await reply.waitFor();
    await reply.locator(".reply-quote").filter({ hasText: "the original text" }).click();
    await ann.page.locator(".bubble-row.highlighted").filter({ has: ann.page.locator(".bubble .content", { hasText: "the original text" }) }).waitFor();

    // Edit inline (Escape cancels; Enter saves): Ben sees the new text and "edited".
    const mine = row(ann, "the original text");
    await mine.hover();
    await mine.getByRole("button", { name: "Message actions" }).click();
    await ann.page.getByRole("menuitem", { name: "Edit" }).click();
    await ann.page.getByLabel("Edit message").press("Escape");
    await ann.page.getByLabel("Edit message").waitFor({ state: "detached" });
    await mine.getByRole("button", { name: "Message actions" }).click();
    await ann.page.getByRole("menuitem", { name: "Edit" }).click();
    await ann.page.getByLabel("Edit message").fill("the corrected text");
    await ann.page.getByLabel("Edit message").press("Enter");
    await row(ben, "the corrected text").locator(".edited").waitFor();

    // Delete, after a confirmation: gone for Ben too. Ben cannot edit or delete Ann's message.
    await row(ben, "the corrected text").getByRole("button", { name: "Message actions" }).click();
    assert((await ben.page.getByRole("menuitem", { name: "Edit" }).count()) === 0, "edit offered on their message");
    assert((await ben.page.getByRole("menuitem", { name: "Delete" }).count()) === 0, "delete offered in a DM");
    await ben.page.keyboard.press("Escape");
    const corrected = row(ann, "the corrected text");
    await corrected.getByRole("button", { name: "Message actions" }).click();
    await ann.page.getByRole("menuitem", { name: "Delete" }).click();
    await ann.page.getByRole("alertdialog", { name: "Delete message?" }).getByRole("button", { name: "Delete" }).click();
    await row(ben, "Message deleted").waitFor();
    // The reply still stands, its quote now says the original was deleted.
    await row(ben, "my answer to it").locator(".reply-quote").filter({ hasText: "Message deleted" }).waitFor();
    await ann.context.close();
    await ben.context.close();
  },

  async "the new-messages divider and pill; unseen messages stay unread"({ browser, server, shot }) {
    const jo = await signUp(browser, server, "Jo");
    const kai = await signUp(browser, server, "Kai");
    const lee = await signUp(browser, server, "Lee");
    await openDm(kai, jo);
    await openDm(jo, lee);
    const post = await restSender(kai, server);
    await post("early", "an early message");
    await jo.page.getByRole("complementary", { name: "Conversations" }).getByRole("button", { name: /Kai/ }).click();
    await exactly(jo, "an early message").waitFor();
    await jo.page.getByRole("complementary", { name: "Conversations" }).getByRole("button", { name: /Lee/ }).click();
    for (let n = 1; n <= 40; n++) await post(`later-${n}`, `later ${n}`);

    // Opening: the divider sits before the first unread, the view there, the rest counted below.
    await jo.page.getByRole("button", { name: /^Kai.*40 unread$/ }).click();
    const divider = jo.page.getByTestId("new-messages-divider");
    await divider.waitFor();
    const pill = jo.page.getByRole("button", { name: /new messages ↓/ });
    await pill.waitFor();
    await shot(jo.page, "new-messages");
    // Not seen yet, so not read.
    await jo.page.waitForTimeout(1500);
    await waitStatus(kai, "later 40", "delivered");
    await pill.click();
    await waitStatus(kai, "later 40", "read");

    // Scrolled up, a new message brings the pill back and is not read until seen.
    const list = jo.page.getByRole("log", { name: "Messages" });
    // (Again until it holds: the pill's smooth scroll to the bottom may still be running.)
    for (let tries = 0; tries < 20; tries++) {
      await list.evaluate((el) => (el.scrollTop = 0));
      await jo.page.waitForTimeout(300);
      if ((await list.evaluate((el) => el.scrollTop)) === 0) break;
    }
    await send(kai, "while you were up there");
    await jo.page.getByRole("button", { name: "1 new message ↓" }).waitFor();
    await jo.page.waitForTimeout(1500);
    await waitStatus(kai, "while you were up there", "delivered");
    await jo.page.getByRole("button", { name: "1 new message ↓" }).click();
    await waitStatus(kai, "while you were up there", "read");
    for (const who of [jo, kai, lee]) await who.context.close();
  },

  async "a message in another conversation toasts, and the toast opens it"({ browser, server, shot }) {
    const mo = await signUp(browser, server, "Mo");
    const nia = await signUp(browser, server, "Nia");
    const oz = await signUp(browser, server, "Oz");
    await openDm(nia, mo);
    await openDm(oz, mo);
    await send(nia, "first from nia");
    await mo.page.getByRole("complementary", { name: "Conversations" }).getByRole("button", { name: /Nia/ }).click();
    await exactly(mo, "first from nia").waitFor();
    // Mo has Nia's chat open: her next message shows in it, with no toast.
    await send(nia, "seen in place");
    await exactly(mo, "seen in place").waitFor();
    await mo.page.waitForTimeout(300);
    const toasts = mo.page.getByRole("status", { name: "Notifications" });
    assert((await toasts.getByRole("button").count()) === 0, "a toast for the open conversation");
    // A message from Oz toasts; the toast opens his conversation.
    await send(oz, "ping from oz");
    const toast = toasts.getByRole("button", { name: /^Oz.*ping from oz/ });
    await toast.waitFor();
    await shot(mo.page, "toast");
    await toast.click();
    await mo.page.getByRole("heading", { name: "Oz" }).waitFor();
    await exactly(mo, "ping from oz").waitFor();
    assert((await toasts.getByRole("button").count()) === 0, "the opened conversation's toast stays");
    // Urgent: marked in the composer, shown distinctly on both sides.
    await oz.page.getByRole("button", { name: "Send as urgent" }).click();
    await send(oz, "the build is on fire");
    await row(mo, "the build is on fire").getByText("Urgent").waitFor();
    await row(oz, "the build is on fire").getByText("Urgent").waitFor();
    assert((await oz.page.getByRole("button", { name: "Send as urgent" }).getAttribute("aria-pressed")) === "false", "urgent stays on");
    await shot(mo.page, "urgent");
    // Muted from the header's menu: marked in the list, and Oz's next message toasts no more.
    await mo.page.getByRole("button", { name: /^Notifications:/ }).click();
    await mo.page.getByRole("menuitem", { name: "Mute for 1 hour" }).click();
    await mo.page.getByRole("button", { name: "Notifications: muted until", exact: false }).waitFor();
    const list = mo.page.getByRole("complementary", { name: "Conversations" });
    await list.getByRole("button", { name: /^Oz.*muted/ }).waitFor();
    await list.getByRole("button", { name: /Nia/ }).click();
    await mo.page.getByRole("heading", { name: "Nia" }).waitFor();
    await send(oz, "a muted ping");
    await list.getByText("a muted ping").waitFor();
    await mo.page.waitForTimeout(500);
    assert((await toasts.getByRole("button").count()) === 0, "a toast from a muted conversation");
    for (const who of [mo, nia, oz]) await who.context.close();
  },

  async "Web Push to a user with no open tab decrypts and verifies with Node's own crypto"({ server }) {
    await webPushRoundTrip(server, unique("wp").slice(3));
  },

  async "dark mode, and no serious accessibility violation on the sign-in, chat and account pages"({ browser, server, shot }) {
    const axe = await import("node:fs").then((fs) =>
      fs.readFileSync(new URL("../node_modules/axe-core/axe.min.js", import.meta.url), "utf8"),
    );
    const check = async (page, what) => {
      await page.addScriptTag({ content: axe });
      const result = await page.evaluate(async () =>
        (await axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] })).violations.map((v) => ({
          id: v.id,
          impact: v.impact,
          nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 3),
        })),
      );
      const serious = result.filter((v) => v.impact === "serious" || v.impact === "critical");
      assert(serious.length === 0, `${what}: ${JSON.stringify(serious)}`);
    };
    for (const colorScheme of ["light", "dark"]) {
      const context = await browser.newContext({
        viewport: { width: 1200, height: 800 },
        colorScheme,
        reducedMotion: "reduce",
        bypassCSP: true,
      });
      const page = await context.newPage();
      page.setDefaultTimeout(TIMEOUT);
      await page.goto(server.base);
      await page.getByRole("button", { name: "Log in", exact: true }).waitFor();
      await check(page, `sign-in (${colorScheme})`);
      const username = unique(`axe_${colorScheme}`);
      await page.getByRole("tab", { name: "Register" }).click();
      await page.getByLabel("Username").fill(username);
      await page.getByLabel("Display name").fill(`Axe${colorScheme}`);
      await page.getByLabel("Password").fill("correct horse battery");
      await page.getByRole("button", { name: "Create account" }).click();
      await page.getByRole("button", { name: "New conversation" }).waitFor();
      const other = await signUp(browser, server, `Peer${colorScheme}`);
      await other.page.getByRole("button", { name: "New conversation" }).click();
      await other.page.getByLabel("Find people").fill(username);
      await other.page.getByRole("button", { name: "Message", exact: true }).click();
      await send(other, "a message to check the colours");
      await page.getByRole("complementary", { name: "Conversations" }).getByRole("button", { name: /Peer/ }).click();
      await exactly({ page }, "a message to check the colours").waitFor();
      await page.getByLabel("Message", { exact: true }).fill("mine too");
      await page.getByLabel("Message", { exact: true }).press("Enter");
      await page.locator('[data-testid="message"][data-status="read"], [data-testid="message"][data-status="delivered"]').first().waitFor();
      assert((await page.evaluate(() => document.documentElement.dataset.theme)) === colorScheme, "theme not followed");
      await check(page, `chat (${colorScheme})`);
      await shot(page, `chat-${colorScheme}`);
      await page.getByRole("button", { name: "Account" }).click();
      await page.getByRole("dialog", { name: "Account security" }).waitFor();
      await check(page, `account (${colorScheme})`);
      await context.close();
      await other.context.close();
    }
  },

  async "a message sent while the server is down survives a reload and is delivered once"({ browser, server, shot }) {
    const dan = await signUp(browser, server, "Dana");
    const eva = await signUp(browser, server, "Evan");
    await openDm(dan, eva);
    await send(dan, "before the outage");
    await waitStatus(dan, "before the outage", "delivered");
    await eva.page.getByRole("complementary", { name: "Conversations" }).getByRole("button", { name: /Dana/ }).click();
    await bubble(eva, "before the outage").waitFor();
    // The app shell is cached (service worker) and the snapshot of the conversations written.
    await dan.page.evaluate(() => navigator.serviceWorker.ready);
    await dan.page.waitForTimeout(1500);

    await server.stop();
    await send(dan, "sent while the server was down");
    await waitStatus(dan, "sent while the server was down", "sending");
    // A reload now would have shown the browser's error page and lost the message.
    await dan.page.reload();
    await dan.page.getByRole("complementary", { name: "Conversations" }).getByRole("button", { name: /Evan/ }).waitFor();
    await dan.page.getByRole("status").filter({ hasText: "Reconnecting..." }).waitFor();
    await shot(dan.page, "offline-reload");
    await server.start();
    await bubble(eva, "sent while the server was down").waitFor();
    await dan.page.getByRole("complementary", { name: "Conversations" }).getByRole("button", { name: /Evan/ }).click();
    await waitStatus(dan, "sent while the server was down", "read");
    await eva.page.waitForTimeout(1000);
    assert((await bubble(eva, "sent while the server was down").count()) === 1, "delivered more than once");
    assert((await bubble(dan, "sent while the server was down").count()) === 1, "shown twice to the sender");
    await dan.context.close();
    await eva.context.close();
  },

  async "reconnect never gives up, and the network's return retries at once"({ browser, server }) {
    const gil = await signUp(browser, server, "Gil");
    await server.stop();
    await gil.context.setOffline(true);
    await gil.page.getByRole("status").filter({ hasText: "You're offline." }).waitFor();
    await gil.context.setOffline(false);
    // The server stays down: the attempts space out (1, 2, 4, 8 s ...), never "Connection lost".
    const bar = gil.page.getByRole("status").filter({ hasText: "Reconnecting..." });
    // Wait for a long gap (16 s, give or take the jitter), so the next attempt cannot be what
    // reconnects below.
    await bar.filter({ hasText: /Next try in (1[2-9]|[2-9]\d) s/ }).waitFor({ timeout: 45_000 });
    assert((await gil.page.getByText("Connection lost").count()) === 0, "the client gave up");
    await server.start();
    // Back online: the waiting attempt is not waited out.
    await gil.page.evaluate(() => window.dispatchEvent(new Event("online")));
    await gil.page.getByRole("status").filter({ hasText: "Connected" }).waitFor({ timeout: 3000 });
    await gil.context.close();
  },

  async "a read mark lost in a drop is sent again after the reconnect"({ browser, server }) {
    const amy = await signUp(browser, server, "Amy");
    const bo = await signUp(browser, server, "Bo");
    await openDm(amy, bo);
    await send(amy, "read me");
    await waitStatus(amy, "read me", "delivered");
    // Bo's socket goes through a relay that swallows the first read mark and then drops the
    // connection: the mark was sent, and never arrived.
    let swallowed = 0;
    await bo.page.routeWebSocket(/\/ws$/, (ws) => {
      const upstream = ws.connectToServer();
      ws.onMessage((message) => {
        if (swallowed === 0 && String(message).includes('"receipt:read"')) {
          swallowed += 1;
          ws.close({ code: 1011, reason: "lost" });
          return;
        }
        upstream.send(message);
      });
      upstream.onMessage((message) => ws.send(message));
    });
    await bo.page.reload();
    await bo.page.getByRole("complementary", { name: "Conversations" }).getByRole("button", { name: /Amy/ }).click();
    await bubble(bo, "read me").waitFor();
    await waitStatus(amy, "read me", "read");
    assert(swallowed === 1, "the relay did not swallow a mark");
    await amy.context.close();
    await bo.context.close();
  },

  async "logging out in one tab signs out the others"({ browser, server }) {
    const kit = await signUp(browser, server, "Kit");
    const other = await kit.context.newPage();
    other.setDefaultTimeout(TIMEOUT);
    await other.goto(server.base);
    await other.getByRole("button", { name: "New conversation" }).waitFor();
    await kit.page.getByRole("button", { name: "Log out", exact: true }).click();
    await kit.page.getByRole("button", { name: "Log in", exact: true }).waitFor();
    await other.getByRole("button", { name: "Log in", exact: true }).waitFor();
    // Nothing of the session is left to send with.
    assert((await other.evaluate(() => localStorage.getItem("parley.session"))) === null, "session kept");
    await kit.context.close();
  },

  ...notificationScenarios,
  ...accountScenarios,
  ...groupScenarios,
  ...fileScenarios,

  async "no page broke its Content-Security-Policy"() {
    assert(cspViolations.length === 0, `CSP violations: ${cspViolations.join(" | ")}`);
  },
};
