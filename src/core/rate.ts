/**
 * A token bucket per connection: `rate` frames per second sustained, bursts up to 5x.
 * Refused frames keep drawing on the bucket, so a client that keeps flooding after
 * `rate_limited` sinks below -burst and is closed, while one that backs off recovers.
 * The policy is one object for every connection; a connection keeps only its bucket's two
 * numbers, so the limit costs a socket no object of its own.
 */
export type RateVerdict = "ok" | "limited" | "abuse";

/** One connection's bucket: the tokens left, and when they were counted. */
export interface Bucket {
  tokens: number;
  countedAt: number;
}

export class RateLimit {
  readonly rate: number;
  readonly burst: number;

  constructor(rate: number) {
    this.rate = rate;
    this.burst = rate * 5;
  }

  take(b: Bucket, now: number): RateVerdict {
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.countedAt) / 1000) * this.rate);
    b.countedAt = now;
    b.tokens -= 1;
    if (b.tokens >= 0) return "ok";
    return b.tokens < -this.burst ? "abuse" : "limited";
  }
}
