import { describe, expect, it } from "vitest";
import type { ProtocolClient } from "@parley/protocol";
import { StatusStore, type SmallStore } from "./status";

function fakes() {
  const map = new Map<string, string>();
  const store: SmallStore = { getItem: (k) => map.get(k) ?? null, setItem: (k, v) => void map.set(k, v) };
  const sent: unknown[] = [];
  const client = { send: (event: string, data: unknown) => sent.push([event, data]) } as unknown as ProtocolClient;
  return { map, store, sent, client };
}

describe("StatusStore", () => {
  it("starts online and sends nothing on connect", () => {
    const { store, sent, client } = fakes();
    const status = new StatusStore(store, "u1");
    expect(status.snapshot()).toBe("online");
    status.restore(client);
    expect(sent).toEqual([]);
  });

  it("keeps a choice per user and restores it after a reconnect or a reload", () => {
    const { store, sent, client } = fakes();
    const status = new StatusStore(store, "u1");
    let told = 0;
    status.subscribe(() => told++);
    status.choose("dnd", client);
    expect(told).toBe(1);
    expect(sent).toEqual([["presence:set", { status: "dnd" }]]);
    const reloaded = new StatusStore(store, "u1");
    expect(reloaded.snapshot()).toBe("dnd");
    reloaded.restore(client);
    expect(sent.at(-1)).toEqual(["presence:set", { status: "dnd" }]);
    expect(new StatusStore(store, "u2").snapshot()).toBe("online");
  });

  it("ignores junk and storage that throws", () => {
    const { map, store } = fakes();
    map.set("parley.status.u1", "invisible");
    expect(new StatusStore(store, "u1").snapshot()).toBe("online");
    const broken: SmallStore = {
      getItem: () => {
        throw new Error("denied");
      },
      setItem: () => {
        throw new Error("denied");
      },
    };
    const status = new StatusStore(broken, "u1");
    status.choose("away", fakes().client);
    expect(status.snapshot()).toBe("away");
  });
});
