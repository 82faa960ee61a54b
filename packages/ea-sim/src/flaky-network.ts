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
 * requests never reach the server; `serverErrorNext(n, status)`: the next n matching requests get
 * a 5xx (503 by default) from a gateway in front of the server, which never sees them.
 */
export class FlakyNetwork {
  private readonly drops: Cue[] = [];
  private readonly fails: Cue[] = [];
  private readonly errors: (Cue & { status: number })[] = [];
  /** Requests the server processed but whose response was lost. */
  dropped = 0;
  /** Requests that never reached the server. */
  failed = 0;
  /** Requests answered with a simulated 5xx (they never reached the server). */
  serverErrors = 0;

  constructor(private readonly inner: FetchLike = (input, init) => fetch(input, init)) {}

  dropNextResponses(n = 1, match: RequestMatch = () => true): void {
    this.drops.push({ left: n, match });
  }

  failNextRequests(n = 1, match: RequestMatch = () => true): void {
    this.fails.push({ left: n, match });
  }

  serverErrorNext(n = 1, status = 503, match: RequestMatch = () => true): void {
    this.errors.push({ left: n, match, status });
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
    const error = this.errors.find((c) => c.left > 0 && c.match(input, init));
    if (error) {
      error.left--;
      this.serverErrors++;
      return Response.json(
        { error: { code: 'unavailable', message: 'service unavailable (simulated)' } },
        { status: error.status, headers: { date: new Date().toUTCString() } },
      );
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
