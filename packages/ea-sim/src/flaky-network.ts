import type { FetchLike } from './signed-http.ts';

/** Which requests a cue applies to: all (default), or those this returns true for. */
export type RequestMatch = (url: string, init: RequestInit) => boolean;

interface Cue {
  left: number;
  match: RequestMatch;
}

/**
 * A network that fails on cue, for the unhappy paths an EA on a VPS meets every day:
 * `dropNextResponses(n)`: the next n matching requests reach the server and are processed, but
 * their responses are lost (the EA sees a timeout); `failNextRequests(n)`: the next n matching
 * requests never reach the server.
 */
export class FlakyNetwork {
  private readonly drops: Cue[] = [];
  private readonly fails: Cue[] = [];
  /** Requests the server processed but whose response was lost. */
  dropped = 0;
  /** Requests that never reached the server. */
  failed = 0;

  constructor(private readonly inner: FetchLike = (input, init) => fetch(input, init)) {}

  dropNextResponses(n = 1, match: RequestMatch = () => true): void {
    this.drops.push({ left: n, match });
  }

  failNextRequests(n = 1, match: RequestMatch = () => true): void {
    this.fails.push({ left: n, match });
  }

  private take(cues: Cue[], url: string, init: RequestInit): boolean {
    const cue = cues.find((c) => c.left > 0 && c.match(url, init));
    if (!cue) return false;
    cue.left--;
    return true;
  }

  readonly fetch: FetchLike = async (input, init) => {
    if (this.take(this.fails, input, init)) {
      this.failed++;
      throw new TypeError('network error: connection refused (simulated)');
    }
    const res = await this.inner(input, init);
    if (this.take(this.drops, input, init)) {
      this.dropped++;
      await res.body?.cancel();
      throw new DOMException('the response was lost (simulated timeout)', 'TimeoutError');
    }
    return res;
  };
}

/** Matches requests by method and a piece of the URL, e.g. `matching('POST', '/status')`. */
export function matching(method: string, urlPart: string): RequestMatch {
  return (url, init) => (init.method ?? 'GET').toUpperCase() === method && url.includes(urlPart);
}
