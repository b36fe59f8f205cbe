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
}

/** What the hub does with one connection's events; returned by Hub.open. */
export interface SocketEvents {
  text(data: string): void;
  binary(): void;
  pong(): void;
  /** May be called more than once (the hub closes, then the runtime reports it): only the first counts. */
  closed(code: number, reason: string): void;
}

export const CLOSE = {
  goingAway: 1001,
  unsupported: 1003,
  policy: 1008,
  tryAgain: 1013,
  replaced: 4409,
} as const;
