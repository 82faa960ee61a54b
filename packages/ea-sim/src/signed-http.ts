import { Webhook } from 'standardwebhooks';
import type { z } from 'zod';

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
  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number,
    readonly body: unknown,
    message: string,
  ) {
    super(message);
    this.name = 'EaHttpError';
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
  /** Per request; WebRequest's timeout in the MQL EAs is 5 s. */
  timeoutMs?: number;
}

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
  if (!res.ok) throw new EaHttpError(method, url, res.status, body, `${method} ${new URL(url).pathname}: ${res.status} ${describe(body)}`);
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new EaHttpError(method, url, res.status, body, `${method} ${new URL(url).pathname}: response outside the contract (${problems})`);
  }
  return parsed.data;
}

/** Signs and sends EA requests to one base URL (the functions URL, `.../functions/v1`). */
export class SignedHttp {
  private readonly webhook: Webhook;

  constructor(
    private readonly signer: EaSigner,
    private readonly options: HttpOptions = {},
  ) {
    this.webhook = new Webhook(signer.secret);
  }

  /** The headers of one signed request (exported for tests and for the README's worked example). */
  sign(body: string, id = `msg_${crypto.randomUUID().replaceAll('-', '')}`, timestamp = Math.floor(Date.now() / 1000)): Record<string, string> {
    return {
      [this.signer.header]: this.signer.id,
      'x-trade-id': id,
      'x-trade-timestamp': String(timestamp),
      'x-trade-signature': this.webhook.sign(id, new Date(timestamp * 1000), body),
    };
  }

  send<S extends z.ZodType>(method: 'GET' | 'POST', url: string, schema: S, body?: unknown): Promise<z.infer<S>> {
    const text = body === undefined ? '' : JSON.stringify(body);
    return requestJson(method, url, schema, { headers: this.sign(text), ...(method === 'GET' ? {} : { body: text }) }, this.options);
  }
}
