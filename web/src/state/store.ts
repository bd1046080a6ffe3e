// A small asynchronous key-value store for what must survive a reload (pending sends, the last
// conversations): IndexedDB in the browser, a Map in tests and where IndexedDB is missing
// (private windows of some browsers refuse it). Keys are strings; values are structured-cloned.

export interface KeyValueStore {
  get<T>(key: string): Promise<T | undefined>;
  set(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<void>;
  /** Every key starting with `prefix`. */
  keys(prefix: string): Promise<string[]>;
}

/** A store in memory (tests; browsers without IndexedDB). */
export function memoryStore(): KeyValueStore {
  const map = new Map<string, unknown>();
  return {
    get: async <T>(key: string) => structuredClone(map.get(key)) as T | undefined,
    set: async (key, value) => void map.set(key, structuredClone(value)),
    delete: async (key) => void map.delete(key),
    keys: async (prefix) => [...map.keys()].filter((k) => k.startsWith(prefix)),
  };
}

const DB = "parley";
const STORE = "kv";

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

/** The browser's IndexedDB (one database, one object store), or a memory store without it. */
export function browserStore(): KeyValueStore {
  if (typeof indexedDB === "undefined") return memoryStore();
  let opened: Promise<IDBDatabase> | null = null;
  const db = () => {
    opened ??= new Promise((resolve, reject) => {
      const open = indexedDB.open(DB, 1);
      open.onupgradeneeded = () => open.result.createObjectStore(STORE);
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error);
    });
    return opened;
  };
  const run = async <T>(mode: IDBTransactionMode, work: (store: IDBObjectStore) => IDBRequest<T>) => {
    const store = (await db()).transaction(STORE, mode).objectStore(STORE);
    return request(work(store));
  };
  return {
    get: async <T>(key: string) => (await run("readonly", (s) => s.get(key))) as T | undefined,
    set: async (key, value) => void (await run("readwrite", (s) => s.put(value, key))),
    delete: async (key) => void (await run("readwrite", (s) => s.delete(key))),
    keys: async (prefix) => {
      // Every key in [prefix, prefix + U+FFFF): the keys starting with prefix.
      const range = IDBKeyRange.bound(prefix, `${prefix}\uffff`);
      return (await run("readonly", (s) => s.getAllKeys(range))).map(String);
    },
  };
}

let device: KeyValueStore | null = null;

/** This device's store, opened once per page. */
export function deviceStore(): KeyValueStore {
  device ??= browserStore();
  return device;
}
