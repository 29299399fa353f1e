// Records keyed by what the server names (provider ids, session ids, model names, event kinds,
// outcomes) are plain objects, so `record[key]` would also find Object.prototype's members: a
// provider whose id is "constructor", "toString" or "valueOf" (valid ids) would "have" metrics, a
// name and quota it never had. Every lookup by such a key goes through these. Pure.
//
// Object.prototype.hasOwnProperty rather than Object.hasOwn: the build targets Safari 15 (WebKitGTK),
// which has no Object.hasOwn before 15.4.

const hasOwnProperty = Object.prototype.hasOwnProperty;

/** Whether `record` has `key` as its own property (never one it inherits). */
export function hasOwn(record: object | null | undefined, key: PropertyKey | null | undefined): boolean {
  return record !== null && record !== undefined && key !== null && key !== undefined && hasOwnProperty.call(record, key);
}

/** `record[key]` when `record` has `key` of its own, else undefined (never an inherited member). */
export function own<K extends PropertyKey, V>(
  record: Readonly<Partial<Record<K, V>>> | null | undefined,
  key: NoInfer<K> | null | undefined,
): V | undefined {
  return record && key !== null && key !== undefined && hasOwn(record, key) ? record[key] : undefined;
}

/**
 * Sets `record[key]` as an own property, whatever the key: plain assignment of `"__proto__"` (a
 * valid session id or model name) would change the object's prototype instead of adding an entry.
 */
export function setOwn<V>(record: Record<string, V>, key: string, value: V): void {
  Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
}
