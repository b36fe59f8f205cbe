/**
 * A token bucket per connection: `rate` frames per second sustained, bursts up to 5x.
 * Refused frames keep drawing on the bucket, so a client that keeps flooding after
 * `rate_limited` sinks below -burst and is closed, while one that backs off recovers.
 */
export type RateVerdict = "ok" | "limited" | "abuse";

export class RateLimiter {
  #rate: number;
  #burst: number;
  #tokens: number;
  #at: number;

  constructor(rate: number, now: number) {
    this.#rate = rate;
    this.#burst = rate * 5;
    this.#tokens = this.#burst;
    this.#at = now;
  }

  take(now: number): RateVerdict {
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#at) / 1000) * this.#rate);
    this.#at = now;
    this.#tokens -= 1;
    if (this.#tokens >= 0) return "ok";
    return this.#tokens < -this.#burst ? "abuse" : "limited";
  }
}
