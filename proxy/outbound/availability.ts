// A destination with no endpoints yet (its service is still starting, its one instance restarting): a
// request waits for a config that brings some, then goes on, instead of failing at once. The way
// linkerd2-proxy buffers requests and fails fast after 3 s of unavailability (linkerd.io "Failfast";
// linkerd2-proxy PR #1035): once a wait has run out, later requests to that destination get their 503 at
// once ("fail fast") until the next config, so a service that is down stays cheap to call.
// This is what lets `devmesh up` start every app at once: a caller that starts before its upstream is
// healthy is held, not refused.

/** How long a request waits for endpoints (capped by its own deadline). */
export const ENDPOINT_WAIT_MS = 3_000;

export class Availability {
  private waiters = new Set<() => void>();
  private readonly failingFast = new Set<string>();

  /** The sidecar applied a new config: waiting requests look again, and every destination may be waited for again. */
  swapped(): void {
    this.failingFast.clear();
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiters) wake();
  }

  /** True when a wait for `key`'s endpoints already ran out under the current config. */
  isFailingFast(key: string): boolean {
    return this.failingFast.has(key);
  }

  /**
   * Waits for a config under which `ready()` holds (asked now, and again after each swap), for at most `ms`.
   * False when `key` is failing fast already, or when the wait ran out: then `key` fails fast until the next config.
   */
  async waitUntil(key: string, ready: () => boolean, ms: number): Promise<boolean> {
    const until = performance.now() + ms;
    while (!ready()) {
      if (this.failingFast.has(key)) return false;
      const left = until - performance.now();
      if (left <= 0 || !(await this.nextSwap(left))) {
        this.failingFast.add(key);
        return false;
      }
    }
    return true;
  }

  /** Resolves true at the next config swap, false after `ms`. */
  nextSwap(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        resolve(false);
      }, ms);
      this.waiters.add(wake);
    });
  }
}
