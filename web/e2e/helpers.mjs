// What every browser scenario uses: unique names per run, signing up and in, opening a DM,
// sending, and the locators for bubbles and rows.

export const suffix = Date.now().toString(36).slice(-5);
let counter = 0;

/** A name no earlier run used: `${prefix}_<run><n>`. */
export function unique(prefix) {
  return `${prefix}_${suffix}${counter++}`;
}
export const TIMEOUT = 15_000;

export function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/** Content-Security-Policy violations any page reported (the last scenario checks none did). */
export const cspViolations = [];

export function watchCsp(page) {
  page.on("console", (message) => {
    if (message.type() === "error" && /Content Security Policy/i.test(message.text())) {
      cspViolations.push(message.text());
    }
  });
}

export async function logIn(browser, server, username, password) {
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

export async function signUp(browser, server, name, viewport = { width: 1200, height: 800 }, shot = null) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  watchCsp(page);
  await page.goto(server.base);
  const username = unique(name.toLowerCase());
  await page.getByRole("tab", { name: "Register" }).click();
  if (shot) await shot(page, "register");
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Display name").fill(name);
  await page.getByLabel("Password").fill("correct horse battery");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("button", { name: "New conversation" }).waitFor();
  return { context, page, username, name };
}

export async function openDm(from, to) {
  await from.page.getByRole("button", { name: "New conversation" }).click();
  await from.page.getByLabel("Find people").fill(to.username);
  await from.page.getByRole("button", { name: "Message", exact: true }).click();
  await from.page.getByRole("heading", { name: to.name }).waitFor();
}

export async function send(user, text) {
  const input = user.page.getByLabel("Message", { exact: true });
  await input.fill(text);
  await input.press("Enter");
}

/** Sends through the REST API, as `user`, into the conversation open on their page: returns
 * `post(clientMessageId, content)`, which waits for the 201 (answered after commit). */
export async function restSender(user, server) {
  const token = await user.page.evaluate(() => JSON.parse(localStorage.getItem("parley.session")).accessToken);
  const conversation = new URL(user.page.url()).pathname.split("/").pop();
  return async (clientMessageId, content) => {
    const r = await fetch(`${server.base}/api/conversations/${conversation}/messages`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ clientMessageId, content }),
    });
    assert(r.status === 201, `${clientMessageId}: ${r.status}`);
  };
}

/** The status of my bubble holding `text`, once it is `status`. */
export async function waitStatus(user, text, status) {
  await user.page
    .locator(`[data-testid="message"][data-status="${status}"]`, { hasText: text })
    .waitFor({ timeout: TIMEOUT });
}

/** My or their bubble holding `text`. */
export function bubble(user, text) {
  return user.page.getByTestId("message").filter({ hasText: text });
}

/** The message row whose own text (not a quote in it) holds `text`. */
export function row(user, text) {
  return user.page.getByTestId("message").filter({ has: user.page.locator(".bubble .content", { hasText: text }) });
}

/** The bubble whose content is exactly `text`. */
export function exactly(user, text) {
  return user.page.locator('[data-testid="message"] .content').getByText(text, { exact: true });
}

