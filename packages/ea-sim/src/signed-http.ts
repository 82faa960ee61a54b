import { Webhook } from 'standardwebhooks';
import type { z } from 'zod';
import { sleep } from './sleep.ts';

/**
 * HTTP as the MQL EAs do it (WebRequest): JSON bodies, and every EA request signed the Standard
 * Webhooks way: `X-Trade-Id` (a fresh message id), `X-Trade-Timestamp` (Unix seconds) and
 * `X-Trade-Signature` (`v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`), plus who signs:
 * `X-EA-Key-Id` (connector EA, key from POST /keys) or `X-Account-Id` (provisioned EA, secret from
 * POST /register). Signing uses the reference `standardwebhooks` package, not the server's code,
 * so the simulator is an independent client of the protocol.
 *
 * Responses are parsed with the contracts' zod schemas: a server answering outside its own
 * contract fails the simulator loudly instead of being half understood.
 *
 * Retries (SignedHttp.send), per request:
 * - no response, 408, 429, 5xx: sent again with the SAME X-Trade-Id and body (re-signed with a
 *   fresh timestamp), after a backoff as mql/Include/Rubi/Http.mqh's (1 s doubling to 8 s, equal
 *   jitter, at least Retry-After; one longer than 30 s ends the attempts), 3 attempts in all. The
 *   server remembers an id only with the work it committed, so a request it refused or failed is
 *   accepted again under the same id.
 * - 401 "request timestamp is more than 300 s old / in the future": this EA's clock is off. The
 *   offset is set from the response's `Date` header (else a `server_time` in its body), and the
 *   same request is signed again with the corrected clock and sent once more (same id: nothing
 *   was stored for the refused one); every later request uses the corrected clock.
 * - 401 "replayed request" on a retry: the earlier attempt with that id was committed but its
 *   answer was lost. The route is idempotent by design (trades dedupe by ticket, a signal report
 *   repeats, positions are the full list, connect resumes, ping and polls are reads), so the
 *   request is sent once more under a fresh id and that answer is used; a route that is not
 *   (`idempotent: false`, the disconnect) gets an EaHttpError with `appliedEarlier` instead.
 * - any other 401 (unknown or revoked key, account not registered, signature does not match)
 *   and any other 4xx: thrown at once.
 */

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface EaSigner {
  /** `x-ea-key-id` or `x-account-id`. */
  header: 'x-ea-key-id' | 'x-account-id';
  id: string;
  /** `whsec_<base64>` as issued. */
  secret: string;
}

/** A request that did not get a 2xx: `status` 0 means no response at all (network, timeout). */
export class EaHttpError extends Error {
  /** Set by SignedHttp on a 401 replay of a request already committed (a non-idempotent route). */
  appliedEarlier = false;
  /** Attempts made for this request (SignedHttp.send). */
  attempts = 1;

  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number,
    readonly body: unknown,
    message: string,
    /** The response's headers; none when there was no response. */
    readonly headers?: Headers,
  ) {
    super(message);
    this.name = 'EaHttpError';
  }

  /** The server's error message (`error.message` of the body), if any. */
  get serverMessage(): string {
    const message = (this.body as { error?: { message?: unknown } } | undefined)?.error?.message;
    return typeof message === 'string' ? message : '';
  }

  /** A 401 for the timestamp: this EA's clock is more than 300 s off the server's. */
  get clockSkew(): boolean {
    return this.status === 401 && /^request timestamp is more than \d+ s (old|in the future)$/.test(this.serverMessage);
  }

  /** A 401 for an X-Trade-Id the server already committed work for. */
  get replayed(): boolean {
    return this.status === 401 && this.serverMessage.startsWith('replayed request');
  }

  /**
   * The server's clock when it answered (ms): the `Date` header (1 s resolution), else a
   * `server_time` in the body; undefined when the response carries neither.
   */
  get serverTimeMs(): number | undefined {
    const date = this.headers?.get('date');
    const fromHeader = date ? Date.parse(date) : Number.NaN;
    if (Number.isFinite(fromHeader)) return fromHeader;
    const serverTime = (this.body as { server_time?: unknown } | undefined)?.server_time;
    const fromBody = typeof serverTime === 'string' ? Date.parse(serverTime) : Number.NaN;
    return Number.isFinite(fromBody) ? fromBody : undefined;
  }

  /** Retry-After in whole seconds (an HTTP date is ignored, as the MQL EA does). */
  get retryAfterSeconds(): number | undefined {
    const value = this.headers?.get('retry-after')?.trim() ?? '';
    return /^\d{1,6}$/.test(value) ? Number(value) : undefined;
  }

  /** Worth sending again later: no response, a timeout, rate limiting or a server error. */
  get retryable(): boolean {
    return this.status === 0 || this.status === 408 || this.status === 429 || this.status >= 500;
  }

  /** `details[].path` of a 400, e.g. `body.trades.3.lots`. */
  get fieldPaths(): string[] {
    const details = (this.body as { error?: { details?: { path?: unknown }[] } } | undefined)?.error?.details ?? [];
    return details.map((d) => String(d.path ?? ''));
  }
}

export interface HttpOptions {
  fetch?: FetchLike;
  /** Per attempt; WebRequest's timeout in the MQL EAs is 5 s. */
  timeoutMs?: number;
  /** This EA computer's clock, ms since the epoch (default: Date.now); the tests skew it. */
  now?: () => number;
  /** Retries of a signed request after no response, 408, 429 or 5xx (defaults: Rubi/Http.mqh's). */
  retry?: RetryOptions;
  /** What the signed requests did beyond one plain attempt (retries, clock resyncs, resends). */
  onEvent?: (event: HttpEvent) => void;
}

export interface RetryOptions {
  /** Attempts in all; 1: no retry (default 3). */
  attempts?: number;
  /** First backoff, doubling per attempt (default 1000). */
  baseDelayMs?: number;
  /** Cap of one backoff (default 8000). */
  maxDelayMs?: number;
  /** A longer Retry-After ends the attempts (default 30000). */
  maxRetryAfterMs?: number;
}

export type HttpEvent =
  | { type: 'retrying'; method: string; path: string; status: number; attempt: number; delayMs: number; requestId: string }
  | { type: 'clock_resynced'; method: string; path: string; offsetSeconds: number; requestId: string }
  | { type: 'resent_fresh_id'; method: string; path: string; replayedId: string; requestId: string };

const RETRY_DEFAULTS: Required<RetryOptions> = { attempts: 3, baseDelayMs: 1000, maxDelayMs: 8000, maxRetryAfterMs: 30_000 };

/** Backoff before attempt `attempt + 1`: base * 2^(attempt-1) capped, half of it jittered, at least Retry-After. */
export function backoffMs(retry: Required<RetryOptions>, attempt: number, retryAfterSeconds?: number): number {
  const delay = Math.min(retry.baseDelayMs * 2 ** (attempt - 1), retry.maxDelayMs);
  const half = Math.floor(delay / 2);
  const jittered = half + Math.floor(Math.random() * (half + 1));
  return Math.max(jittered, (retryAfterSeconds ?? 0) * 1000);
}

const newRequestId = () => `msg_${crypto.randomUUID().replaceAll('-', '')}`;

function describe(body: unknown): string {
  const error = (body as { error?: { code?: string; message?: string; details?: { path: string; message: string }[] } } | undefined)?.error;
  if (!error) return typeof body === 'string' ? body.slice(0, 200) : JSON.stringify(body)?.slice(0, 200) ?? '';
  const details = error.details?.map((d) => `${d.path}: ${d.message}`).join('; ');
  return `${error.code}: ${error.message}${details ? ` (${details})` : ''}`;
}

export async function requestJson<S extends z.ZodType>(
  method: string,
  url: string,
  schema: S,
  init: { body?: string; headers?: Record<string, string> },
  options: HttpOptions = {},
): Promise<z.infer<S>> {
  const doFetch = options.fetch ?? ((input, requestInit) => fetch(input, requestInit));
  let res: Response;
  try {
    res = await doFetch(url, {
      method,
      headers: { accept: 'application/json', ...(init.body === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers },
      ...(init.body === undefined ? {} : { body: init.body }),
      signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
    });
  } catch (error) {
    throw new EaHttpError(method, url, 0, undefined, `${method} ${url}: no response (${error instanceof Error ? error.message : String(error)})`);
  }
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    // not JSON: keep the text for the message
  }
  if (!res.ok) throw new EaHttpError(method, url, res.status, body, `${method} ${new URL(url).pathname}: ${res.status} ${describe(body)}`, res.headers);
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new EaHttpError(method, url, res.status, body, `${method} ${new URL(url).pathname}: response outside the contract (${problems})`, res.headers);
  }
  return parsed.data;
}

/** Signs and sends EA requests to one base URL (the functions URL, `.../functions/v1`). */
export class SignedHttp {
  /**
   * Added to this EA's clock when signing (ms, whole seconds): set from the server's clock after a
   * 401 for the timestamp, kept for every later request.
   */
  clockOffsetMs = 0;
  private readonly webhook: Webhook;
  private readonly retry: Required<RetryOptions>;

  constructor(
    private readonly signer: EaSigner,
    private readonly options: HttpOptions = {},
  ) {
    this.webhook = new Webhook(signer.secret);
    this.retry = { ...RETRY_DEFAULTS, ...options.retry };
  }

  /** Unix seconds by this EA's clock, corrected by the offset learnt from the server. */
  nowSeconds(): number {
    return Math.floor(((this.options.now?.() ?? Date.now()) + this.clockOffsetMs) / 1000);
  }

  /** The headers of one signed request (exported for tests and for the README's worked example). */
  sign(body: string, id = newRequestId(), timestamp = this.nowSeconds()): Record<string, string> {
    return {
      [this.signer.header]: this.signer.id,
      'x-trade-id': id,
      'x-trade-timestamp': String(timestamp),
      'x-trade-signature': this.webhook.sign(id, new Date(timestamp * 1000), body),
    };
  }

  /**
   * Sends one signed request, with the retries described at the top of this file. `idempotent`
   * (default true) says the route may be sent again under a fresh id after a replayed-id 401.
   */
  async send<S extends z.ZodType>(method: 'GET' | 'POST', url: string, schema: S, body?: unknown, opts: { idempotent?: boolean } = {}): Promise<z.infer<S>> {
    const text = body === undefined ? '' : JSON.stringify(body);
    const path = new URL(url).pathname;
    const emit = (event: HttpEvent) => this.options.onEvent?.(event);
    let id = newRequestId();
    let attempt = 1;
    let sends = 0;
    // True once an attempt under `id` may have been committed without us seeing the answer.
    let mayBeApplied = false;
    let resynced = false;
    let resent = false;
    for (;;) {
      sends++;
      try {
        return await requestJson(method, url, schema, { headers: this.sign(text, id), ...(method === 'GET' ? {} : { body: text }) }, this.options);
      } catch (error) {
        if (!(error instanceof EaHttpError)) throw error;
        error.attempts = sends;
        if (error.clockSkew && !resynced) {
          const serverMs = error.serverTimeMs;
          if (serverMs === undefined) throw error; // nothing to set the clock from
          resynced = true;
          this.clockOffsetMs = Math.round((serverMs - (this.options.now?.() ?? Date.now())) / 1000) * 1000;
          emit({ type: 'clock_resynced', method, path, offsetSeconds: this.clockOffsetMs / 1000, requestId: id });
          continue; // same id: the server stored nothing for the refused request
        }
        if (error.replayed && mayBeApplied && !resent) {
          if (opts.idempotent === false) {
            error.appliedEarlier = true;
            throw error;
          }
          resent = true;
          mayBeApplied = false;
          const replayedId = id;
          id = newRequestId();
          emit({ type: 'resent_fresh_id', method, path, replayedId, requestId: id });
          continue;
        }
        if (!error.retryable || attempt >= this.retry.attempts) throw error;
        const retryAfter = error.retryAfterSeconds;
        if (retryAfter !== undefined && retryAfter * 1000 > this.retry.maxRetryAfterMs) throw error;
        // No response or a server error: the work may have been committed (a lost answer, a
        // gateway timeout), so a replayed-id 401 on a later attempt means it was.
        mayBeApplied = true;
        const delayMs = backoffMs(this.retry, attempt, retryAfter);
        emit({ type: 'retrying', method, path, status: error.status, attempt, delayMs, requestId: id });
        await sleep(delayMs);
        attempt++;
      }
    }
  }
}
