import { randomUUID } from 'node:crypto';
import { SignedHttp } from '@rubi/ea-sim';

/**
 * A connector EA over HTTP that can also misbehave (tamper with a signed body, replay an id, send a
 * stale timestamp). Signs with the EA simulator's SignedHttp, i.e. the reference Standard Webhooks
 * library (`standardwebhooks` on npm), not with @rubi/crypto: if the functions accept these requests, any
 * Standard Webhooks implementation can talk to them (MQL5's own HMAC included, as long as it
 * follows the spec).
 *
 * Headers: X-EA-Key-Id, X-Trade-Id, X-Trade-Timestamp, X-Trade-Signature; the body is sent as the
 * exact bytes that were signed.
 */

export interface EaCredential {
  keyId: string;
  /** `whsec_<base64>`, as POST /keys returned it. */
  secret: string;
}

export interface EaSendOptions {
  /** X-Trade-Id (default: a fresh `msg_<uuid>`); reuse one to replay. */
  id?: string;
  /** Unix seconds signed and sent (default: now). */
  timestamp?: number;
  /** Bytes to send instead of the signed body (to tamper with a signed request). */
  sendBody?: string;
}

export interface EaResponse<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
  /** What was sent, so a test can replay it byte for byte. */
  sent: SignedRequest;
}

export interface SignedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | undefined;
}

export type UrlFor = (path: string) => string;

export class EaClient {
  private readonly signer: SignedHttp;

  constructor(
    private readonly urlFor: UrlFor,
    readonly credential: EaCredential,
  ) {
    // The EA simulator's signer: the reference library under the hood, given the secret as issued.
    this.signer = new SignedHttp({ header: 'x-ea-key-id', id: credential.keyId, secret: credential.secret });
  }

  /** Builds a signed request without sending it. */
  sign(method: string, path: string, body?: unknown, opts: EaSendOptions = {}): SignedRequest {
    const text = body === undefined ? '' : JSON.stringify(body);
    const id = opts.id ?? `msg_${randomUUID().replaceAll('-', '')}`;
    const timestamp = opts.timestamp ?? Math.floor(Date.now() / 1000);
    const headers = this.signer.sign(text, id, timestamp);
    if (method !== 'GET') headers['content-type'] = 'application/json';
    return { method, url: this.urlFor(path), headers, body: method === 'GET' ? undefined : (opts.sendBody ?? text) };
  }

  async send<T = unknown>(request: SignedRequest): Promise<EaResponse<T>> {
    const res = await fetch(request.url, {
      method: request.method,
      headers: request.headers,
      ...(request.body === undefined ? {} : { body: request.body }),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      // not JSON: keep the text for the assertion message
    }
    return { status: res.status, body: parsed as T, headers: res.headers, sent: request };
  }

  post<T = unknown>(path: string, body: unknown, opts: EaSendOptions = {}): Promise<EaResponse<T>> {
    return this.send<T>(this.sign('POST', path, body, opts));
  }

  get<T = unknown>(path: string, opts: EaSendOptions = {}): Promise<EaResponse<T>> {
    return this.send<T>(this.sign('GET', path, undefined, opts));
  }
}

/** A dashboard request: `Authorization: Bearer <Supabase access token>`. */
export async function userFetch<T = unknown>(
  url: string,
  token: string,
  method: string,
  body?: unknown,
): Promise<{ status: number; body: T; headers: Headers }> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    // keep text
  }
  return { status: res.status, body: parsed as T, headers: res.headers };
}
