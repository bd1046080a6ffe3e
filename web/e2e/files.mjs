// Browser scenarios of issue 19's attachments: an image dropped on the composer uploads with a
// progress bar (the upload throttled so the bar is seen), is previewed, sent, and shows as a
// thumbnail on both sides that opens full size; a PDF picked with the attach button shows as a
// file card whose Download saves it under its name.

import { deflateSync } from "node:zlib";
import { assert, bubble, openDm, signUp } from "./helpers.mjs";

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "ascii");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** A `width` × `height` RGB PNG of noise (incompressible: its size is about 3 bytes a pixel). */
function noisyPng(width, height) {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  let seed = 7;
  for (let i = 0; i < raw.length; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    raw[i] = i % (width * 3 + 1) === 0 ? 0 : seed >>> 16;
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw, { level: 1 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** Drops `bytes` as a file named `name` on the composer, as a drag from the desktop would. */
async function dropFile(user, name, type, bytes) {
  await user.page.evaluate(
    ({ name, type, base64 }) => {
      const data = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([data], name, { type }));
      const target = document.querySelector("form.message-input");
      for (const kind of ["dragenter", "dragover", "drop"]) {
        target.dispatchEvent(new DragEvent(kind, { dataTransfer: transfer, bubbles: true, cancelable: true }));
      }
    },
    { name, type, base64: bytes.toString("base64") },
  );
}

export const fileScenarios = {
  async "an image dropped on the composer uploads with progress and shows on both sides"({ browser, server, shot }) {
    const ivy = await signUp(browser, server, "Ivy");
    const jon = await signUp(browser, server, "Jon");
    await openDm(ivy, jon);

    // About 2.4 MB at 600 KB/s: the bar is there for a few seconds.
    const cdp = await ivy.context.newCDPSession(ivy.page);
    await cdp.send("Network.enable");
    await cdp.send("Network.emulateNetworkConditions", {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: 600 * 1024,
    });
    await dropFile(ivy, "sunset.png", "image/png", noisyPng(1000, 800));
    const progress = ivy.page.getByRole("progressbar", { name: "Uploading sunset.png" });
    await progress.waitFor();
    await ivy.page.locator(".upload-preview").waitFor();
    await shot(ivy.page, "upload-progress");
    const send = ivy.page.getByRole("button", { name: "Send", exact: true });
    assert(await send.isDisabled(), "Send is enabled while the upload runs");
    await progress.waitFor({ state: "detached", timeout: 60_000 });
    await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await ivy.page.getByLabel("Message", { exact: true }).fill("the view from here");
    await send.click();

    // Both sides see the thumbnail (a real decoded image), and it opens full size.
    for (const user of [ivy, jon]) {
      if (user === jon) await jon.page.getByRole("complementary", { name: "Conversations" }).getByRole("button", { name: /Ivy/ }).click();
      const thumb = bubble(user, "the view from here").getByTestId("attachment-thumbnail");
      await thumb.waitFor();
      await user.page.waitForFunction((img) => img.complete && img.naturalWidth > 0, await thumb.elementHandle());
      const width = await thumb.evaluate((img) => img.naturalWidth);
      assert(width === 320, `the bubble shows the 320 px thumbnail, not ${width} px`);
    }
    await shot(jon.page, "image-message");
    await bubble(jon, "the view from here").getByRole("button", { name: "Open sunset.png" }).click();
    const full = jon.page.getByTestId("attachment-full");
    await full.waitFor();
    await jon.page.waitForFunction((img) => img.complete && img.naturalWidth === 1000, await full.elementHandle());
    await jon.page.keyboard.press("Escape");
    await full.waitFor({ state: "detached" });

    // A file picked with the attach button: a card with its name and size that downloads.
    const pdf = Buffer.concat([Buffer.from("%PDF-1.4\n"), Buffer.alloc(3000, 0x20), Buffer.from("\n%%EOF\n")]);
    await ivy.page.getByTestId("file-input").setInputFiles({ name: "minutes.pdf", mimeType: "application/pdf", buffer: pdf });
    await ivy.page.getByTestId("upload").filter({ hasText: "minutes.pdf" }).filter({ hasText: "KB" }).waitFor();
    await ivy.page.getByRole("button", { name: "Send", exact: true }).click();
    const card = jon.page.getByTestId("file-card").filter({ hasText: "minutes.pdf" });
    await card.waitFor();
    assert((await card.textContent()).includes("2.9 KB"), "the card shows the size");
    const [saved] = await Promise.all([
      jon.page.waitForEvent("download"),
      card.getByRole("button", { name: "Download minutes.pdf" }).click(),
    ]);
    assert(saved.suggestedFilename() === "minutes.pdf", `saved as ${saved.suggestedFilename()}`);
    // The conversation list says what came without text.
    await jon.page.getByRole("complementary", { name: "Conversations" }).getByRole("button", { name: /minutes\.pdf/ }).waitFor();
    await ivy.context.close();
    await jon.context.close();
  },
};
