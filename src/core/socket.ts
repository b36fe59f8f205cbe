/**
 * The runtime seam: the few things the hub needs from a socket, which each runtime
 * provides from its own raw socket (src/runtime/*.ts).
 */
export interface SocketSeam {
  /** false when the runtime dropped the frame instead of queueing it. */
  send(text: string): boolean;
  close(code: number, reason: string): void;
  /** Sends a protocol ping (the peer's pong comes back as SocketEvents.pong). */
  ping(): void;
  /** Drops the connection without a closing handshake. */
  terminate(): void;
  /** Bytes queued for this socket and not yet written. */
  bufferedAmount(): number;
  /** Joins / leaves a native topic (see Publish); absent where the runtime has none. */
  subscribe?(topic: string): void;
  unsubscribe?(topic: string): void;
}

/**
 * The runtime's native fan-out (Bun's topics): writes `text` to every socket subscribed to
 * `topic` but `except`, in one call and in native code. Absent where the runtime has none:
 * the hub then writes to each socket itself.
 */
export type Publish = (topic: string, text: string, except?: SocketSeam) => void;

/** What the hub does with one connection's events; returned by Hub.open. */
export interface SocketEvents {
  text(data: string): void;
  binary(): void;
  pong(): void;
  /** May be called more than once (the hub closes, then the runtime reports it): only the first counts. */
  ended(code: number, reason: string): void;
}

export const CLOSE = {
  goingAway: 1001,
  unsupported: 1003,
  policy: 1008,
  tryAgain: 1013,
  replaced: 4409,
} as const;
