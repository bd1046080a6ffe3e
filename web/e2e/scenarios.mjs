// The scenarios of issue 7's acceptance, each with fresh users (names made unique per run).

const suffix = Date.now().toString(36).slice(-5);
let counter = 0;
const TIMEOUT = 15_000;

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/** Content-Security-Policy violations any page reported (the last scenario checks none did). */
const cspViolations = [];

function watchCsp(page) {
  page.on("console", (message) => {
    if (message.type() === "error" && /Content Security Policy/i.test(message.text())) {
      cspViolations.push(message.text());
    }
  });
}

async function logIn(browser, server, username, password) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  watchCsp(page);
  await page.goto(server.base);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in", exact: true }).click();
  await page.getByRole("button", { name: "New conversation" }).waitFor();
  return { context, page, username };
}

async function signUp(browser, server, name, viewport = { width: 1200, height: 800 }, shot = null) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  watchCsp(page);
  await page.goto(server.base);
  const username = `${name.toLowerCase()}_${suffix}${counter++}`;
  await page.getByRole("tab", { name: "Register" }).click();
  if (shot) await shot(page, "register");
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Display name").fill(name);
  await page.getByLabel("Password").fill("correct horse battery");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("button", { name: "New conversation" }).waitFor();
  return { context, page, username, name };
}

async function openDm(from, to) {
  await from.page.getByRole("button", { name: "New conversation" }).click();
  await from.page.getByLabel("Find people").fill(to.username);
  await from.page.getByRole("button", { name: "Message", exact: true }).click();
  await from.page.getByRole("heading", { name: to.name }).waitFor();
}

async function send(user, text) {
  const input = user.page.getByLabel("Message", { exact: true });
  await input.fill(text);
  await input.press("Enter");
}

/** The status of my bubble holding `text`, once it is `status`. */
async function waitStatus(user, text, status) {
  await user.page
    .locator(`[data-testid="message"][data-status="${status}"]`, { hasText: text })
    .waitFor({ timeout: TIMEOUT });
}

/** My or their bubble holding `text`. */
function bubble(user, text) {
  return user.page.getByTestId("message").filter({ hasText: text });
}

/** The bubble whose content is exactly `text`. */
function exactly(user, text) {
  return user.page.locator('[data-testid="message"] .content').getByText(text, { exact: true });
}

export const scenarios = {
  async "two people chat in a DM: ticks, typing, unread badge, presence"({ browser, server, shot }) {
    const alice = await signUp(browser, server, "Alice", undefined, shot);
    const bob = await signUp(browser, server, "Bob");
    await openDm(alice, bob);
    await send(alice, "Hello Bob, <b>not bold</b>");
    await waitStatus(alice, "Hello Bob", "delivered");
    // Text is text: the markup shows literally, nothing is parsed.
    assert((await alice.page.locator("b", { hasText: "not bold" }).count()) === 0, "content rendered as HTML");

    // Bob sees the conversation with an unread badge, opens it: the badge clears, Alice's tick
    // turns to read.
    const item = bob.page.getByRole("button", { name: /Alice, 1 unread/ });
    await item.waitFor();
    await shot(bob.page, "unread-badge");
    await item.click();
    await bubble(bob, "Hello Bob, <b>not bold</b>").waitFor();
    await waitStatus(alice, "Hello Bob", "read");
    await bob.page.getByRole("button", { name: "Alice", exact: true }).waitFor();
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
      await who.page.getByRole("button", { name: /Lunch/ }).click();
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
    await eva.page.getByRole("button", { name: /Dan/ }).click();
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
    await fay.context.close();
    await gus.context.close();
  },

  async "history loads older pages when scrolled to the top"({ browser, server }) {
    const hal = await signUp(browser, server, "Hal");
    const ivy = await signUp(browser, server, "Ivy");
    await openDm(hal, ivy);
    // 80 messages through the REST API (a page is 50).
    const token = await hal.page.evaluate(() => JSON.parse(localStorage.getItem("parley.session")).accessToken);
    const conversation = await hal.page.evaluate(async (t) => {
      const r = await fetch("/api/conversations", { headers: { authorization: `Bearer ${t}` } });
      return (await r.json()).data[0].id;
    }, token);
    for (let n = 1; n <= 80; n++) {
      const r = await fetch(`${server.base}/api/conversations/${conversation}/messages`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ clientMessageId: `seed-${n}`, content: `history ${n}` }),
      });
      assert(r.status === 201, `seed ${n}: ${r.status}`);
    }
    await ivy.page.getByRole("button", { name: /Hal/ }).click();
    await bubble(ivy, "history 80").waitFor();
    assert((await exactly(ivy, "history 30").count()) === 0, "the first page holds only the newest 50");
    const list = ivy.page.getByRole("log", { name: "Messages" });
    for (let i = 0; i < 20 && (await exactly(ivy, "history 1").count()) === 0; i++) {
      await list.evaluate((el) => (el.scrollTop = 0));
      await ivy.page.waitForTimeout(300);
    }
    await exactly(ivy, "history 1").waitFor();
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

  async "no page broke its Content-Security-Policy"() {
    assert(cspViolations.length === 0, `CSP violations: ${cspViolations.join(" | ")}`);
  },
};
