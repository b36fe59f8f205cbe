/**
 * The stores' side of the id rule (isId in core/protocol.ts), the same in every store: what
 * is not an id is refused before it can become part of a key. The node's edges check first;
 * this keeps a store safe whoever calls it, and keeps memory and Redis alike.
 */
import { duplexError } from "../core/errors.ts";
import { ID_RULE, isId } from "../core/protocol.ts";
import type { NewMessage, SessionRecord } from "../core/ports/store.ts";

export function checkIds(field: string, ...values: unknown[]): void {
  for (const v of values) if (!isId(v)) throw duplexError("bad_request", `${field} must be ${ID_RULE}`);
}

export function checkDevice(r: Pick<SessionRecord, "user" | "device">): void {
  checkIds("user", r.user);
  checkIds("device", r.device);
}

export function checkMessage(m: NewMessage): void {
  checkIds("conv", m.conv);
  checkIds("id", m.id);
  checkDevice(m.from);
}
