// Web Push checked by an independent implementation: Node's own crypto plays the browser and its
// push service. It subscribes with a P-256 key and an auth secret, a message goes to that user
// (with no open connection), and the push service receives one POST whose VAPID token (RFC 8292)
// verifies with the key the server hands browsers and whose aes128gcm body (RFC 8291) decrypts
// to the push: the server's encryption and signing agree with another implementation of both.

import { createDecipheriv, createECDH, createPublicKey, hkdfSync, randomBytes, verify } from "node:crypto";
import { createServer } from "node:http";

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

async function api(server, method, path, token, body) {
  const response = await fetch(`${server.base}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body ? { "content-type": "application/json" } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await response.json().catch(() => null);
  return { status: response.status, json };
}

async function register(server, username) {
  const made = await api(server, "POST", "/api/auth/register", null, { username, password: "correct horse battery" });
  assert(made.status === 201, `register ${username}: ${made.status}`);
  return { id: made.json.data.user.id, token: made.json.data.accessToken, username };
}

/** Decrypts an RFC 8291 `aes128gcm` body with the subscription's ECDH key and auth secret. */
function decrypt(body, ua, uaPublic, auth) {
  const salt = body.subarray(0, 16);
  const idlen = body[20];
  const keyid = body.subarray(21, 21 + idlen);
  const record = body.subarray(21 + idlen);
  const ecdhSecret = ua.computeSecret(keyid);
  const keyInfo = Buffer.concat([Buffer.from("WebPush: info\0"), uaPublic, keyid]);
  const ikm = Buffer.from(hkdfSync("sha256", ecdhSecret, auth, keyInfo, 32));
  const cek = Buffer.from(hkdfSync("sha256", ikm, salt, Buffer.from("Content-Encoding: aes128gcm\0"), 16));
  const nonce = Buffer.from(hkdfSync("sha256", ikm, salt, Buffer.from("Content-Encoding: nonce\0"), 12));
  const decipher = createDecipheriv("aes-128-gcm", cek, nonce);
  decipher.setAuthTag(record.subarray(record.length - 16));
  const plain = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()]);
  let end = plain.length - 1;
  while (end >= 0 && plain[end] === 0) end--;
  assert(plain[end] === 2, "the last record ends with the delimiter 2");
  return plain.subarray(0, end);
}

export async function webPushRoundTrip(server, suffix) {
  const received = [];
  const service = createServer((request, response) => {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", () => {
      received.push({ headers: request.headers, body: Buffer.concat(chunks), url: request.url });
      response.writeHead(201);
      response.end();
    });
  });
  await new Promise((resolve) => service.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${service.address().port}`;
  try {
    const ann = await register(server, `wpann_${suffix}`);
    const ben = await register(server, `wpben_${suffix}`);
    const channels = await api(server, "GET", "/api/push", ben.token);
    const vapidKey = channels.json?.data?.vapidPublicKey;
    assert(typeof vapidKey === "string", `no VAPID key: ${JSON.stringify(channels.json)}`);

    const ua = createECDH("prime256v1");
    const uaPublic = ua.generateKeys();
    const auth = randomBytes(16);
    const endpoint = `${origin}/push/${ben.username}`;
    const subscribed = await api(server, "POST", "/api/users/me/push-subscriptions", ben.token, {
      kind: "webpush",
      endpoint,
      keys: { p256dh: uaPublic.toString("base64url"), auth: auth.toString("base64url") },
      label: "Node",
    });
    assert(subscribed.status === 201, `subscribe: ${subscribed.status} ${JSON.stringify(subscribed.json)}`);
    const dm = await api(server, "POST", "/api/conversations", ann.token, { type: "dm", userId: ben.id });
    assert(dm.status === 201 || dm.status === 200, `dm: ${dm.status}`);
    const sent = await api(server, "POST", `/api/conversations/${dm.json.data.id}/messages`, ann.token, {
      clientMessageId: "wp-1",
      content: "hello over web push",
    });
    assert(sent.status === 201, `send: ${sent.status}`);
    for (let i = 0; i < 200 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert(received.length === 1, `pushes received: ${received.length}`);
    const push = received[0];
    assert(push.url === `/push/${ben.username}`, `path ${push.url}`);
    assert(push.headers["content-encoding"] === "aes128gcm", "content-encoding");
    assert(Number(push.headers.ttl) > 0, "TTL");

    // VAPID: an ES256 token for the push service's origin, signed by the key browsers get.
    const match = /^vapid t=([^,]+), k=(.+)$/.exec(push.headers.authorization ?? "");
    assert(match && match[2] === vapidKey, `authorization: ${push.headers.authorization}`);
    const [header, claims, signature] = match[1].split(".");
    const point = Buffer.from(vapidKey, "base64url");
    const key = createPublicKey({
      key: { kty: "EC", crv: "P-256", x: point.subarray(1, 33).toString("base64url"), y: point.subarray(33, 65).toString("base64url") },
      format: "jwk",
    });
    const signed = Buffer.from(`${header}.${claims}`);
    assert(verify("sha256", signed, { key, dsaEncoding: "ieee-p1363" }, Buffer.from(signature, "base64url")), "VAPID signature");
    const claimed = JSON.parse(Buffer.from(claims, "base64url").toString());
    assert(claimed.aud === origin, `aud ${claimed.aud}`);
    assert(claimed.sub === "mailto:e2e@parley.test", `sub ${claimed.sub}`);
    assert(claimed.exp > Date.now() / 1000 && claimed.exp <= Date.now() / 1000 + 24 * 3600, "exp within a day");

    const message = JSON.parse(decrypt(push.body, ua, uaPublic, auth).toString());
    assert(message.body === "hello over web push", `body ${message.body}`);
    assert(message.title === ann.username, `title ${message.title}`);
    assert(message.conversationId === dm.json.data.id, "conversation");
  } finally {
    service.close();
  }
}
