import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for the Supabase Management API, just large enough for the real CLI's
 * `supabase functions deploy --use-api` (3.1.0). Point the CLI at it with `--profile <file>`
 * holding `profileYaml` (its `api_url`). It records every upload; it bundles nothing.
 *
 * The endpoints the CLI calls (observed with a logging server, answered with the shapes the CLI's
 * own response schemas decode):
 *
 *   GET  /v1/projects/{ref}                      "Checking project..." and, after a deploy, the
 *                                                project metadata it caches in supabase/.temp
 *   POST /v1/projects/{ref}/functions/deploy     one per function: multipart/form-data, one `file`
 *        ?slug=<name>[&bundleOnly=true]          part per source file (its filename is the path
 *                                                relative to the project root) and a `metadata`
 *                                                part: JSON {entrypoint_path, import_map_path,
 *                                                static_patterns, verify_jwt, name}. 201 with the
 *                                                function. With several functions the CLI asks for
 *                                                bundleOnly and activates them all at once with:
 *   PUT  /v1/projects/{ref}/functions            JSON array of the functions the deploys returned;
 *                                                200 {functions}
 *   GET  /v1/projects/{ref}/functions            the deployed functions (the CLI lists them first
 *                                                only when a function's verify_jwt is not set)
 *
 * Every request needs `Authorization: Bearer <accessToken>` (401 otherwise, as the real API).
 * Anything else gets 404 and is listed in `unexpected`, so a test can notice a new call.
 */

export interface DeployMetadata {
  entrypoint_path: string;
  import_map_path?: string;
  static_patterns?: string[];
  verify_jwt?: boolean;
  name?: string;
}

export interface UploadedFile {
  /** As the CLI names it: relative to the project root, e.g. `functions/keys/index.ts`. */
  path: string;
  content: Buffer;
}

export interface RecordedDeploy {
  slug: string;
  bundleOnly: boolean;
  metadata: DeployMetadata;
  files: UploadedFile[];
}

/** The function object of the API's responses (`FunctionResponse` / `DeployFunctionResponse`). */
interface DeployedFunction {
  id: string;
  slug: string;
  name: string;
  status: 'ACTIVE';
  version: number;
  created_at: number;
  updated_at: number;
  verify_jwt: boolean;
  import_map: boolean;
  entrypoint_path: string;
  import_map_path?: string;
}

export interface ManagementApi {
  url: string;
  /** A `--profile` file's content pointing the CLI here (project_host never resolves). */
  profileYaml: string;
  deploys: RecordedDeploy[];
  /** The slugs of each bulk update (PUT /functions), in order. */
  bulkUpdates: string[][];
  /** `METHOD /path` of every request the stand-in does not serve. */
  unexpected: string[];
  close(): Promise<void>;
}

const SLUG = /^[A-Za-z][A-Za-z0-9_-]*$/;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function projectBody(ref: string): Record<string, unknown> {
  return {
    id: ref,
    ref,
    organization_id: 'stand-in-org',
    organization_slug: 'stand-in-org',
    name: 'deploy test stand-in',
    region: 'local',
    created_at: new Date(0).toISOString(),
    status: 'ACTIVE_HEALTHY',
    database: { host: `db.${ref}.invalid`, version: '15', postgres_engine: '15', release_channel: 'ga' },
  };
}

/** Parses the multipart deploy body with the platform's own FormData parser. */
async function parseDeploy(req: IncomingMessage, url: URL): Promise<RecordedDeploy> {
  const slug = url.searchParams.get('slug') ?? '';
  if (!SLUG.test(slug)) throw new HttpError(400, 'slug must match ^[A-Za-z][A-Za-z0-9_-]*$');
  const form = await new Request(url, {
    method: 'POST',
    headers: { 'content-type': req.headers['content-type'] ?? '' },
    body: new Uint8Array(await readBody(req)),
  }).formData();
  const files: UploadedFile[] = [];
  for (const part of form.getAll('file')) {
    if (typeof part === 'string') throw new HttpError(400, 'a file part has no filename');
    files.push({ path: part.name, content: Buffer.from(await part.arrayBuffer()) });
  }
  const metadata = JSON.parse(String(form.get('metadata') ?? 'null')) as DeployMetadata | null;
  if (typeof metadata?.entrypoint_path !== 'string') throw new HttpError(400, 'metadata.entrypoint_path is required');
  return { slug, bundleOnly: url.searchParams.get('bundleOnly') === 'true', metadata, files };
}

/** Starts the stand-in on a free port of 127.0.0.1 for one project and one access token. */
export async function startManagementApi(opts: { projectRef: string; accessToken: string }): Promise<ManagementApi> {
  const deploys: RecordedDeploy[] = [];
  const bulkUpdates: string[][] = [];
  const unexpected: string[] = [];
  const functions = new Map<string, DeployedFunction>();
  const base = `/v1/projects/${opts.projectRef}`;

  const deploy = async (req: IncomingMessage, url: URL): Promise<DeployedFunction> => {
    const recorded = await parseDeploy(req, url);
    deploys.push(recorded);
    const { slug, metadata } = recorded;
    const previous = functions.get(slug);
    const now = Date.now();
    const fn: DeployedFunction = {
      id: previous?.id ?? randomUUID(),
      slug,
      name: metadata.name ?? slug,
      status: 'ACTIVE',
      version: (previous?.version ?? 0) + 1,
      created_at: previous?.created_at ?? now,
      updated_at: now,
      verify_jwt: metadata.verify_jwt ?? true,
      import_map: Boolean(metadata.import_map_path),
      entrypoint_path: metadata.entrypoint_path,
      ...(metadata.import_map_path ? { import_map_path: metadata.import_map_path } : {}),
    };
    functions.set(slug, fn);
    return fn;
  };

  const bulkUpdate = async (req: IncomingMessage): Promise<DeployedFunction[]> => {
    const body = JSON.parse((await readBody(req)).toString('utf8')) as DeployedFunction[];
    if (!Array.isArray(body)) throw new HttpError(400, 'expected an array of functions');
    bulkUpdates.push(body.map((fn) => fn.slug));
    for (const fn of body) functions.set(fn.slug, fn);
    return body;
  };

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const call = `${req.method ?? ''} ${url.pathname}`;
    if (req.headers.authorization !== `Bearer ${opts.accessToken}`) return send(res, 401, { message: 'Unauthorized' });
    if (call === `GET ${base}`) return send(res, 200, projectBody(opts.projectRef));
    if (call === `GET ${base}/functions`) return send(res, 200, [...functions.values()]);
    if (call === `POST ${base}/functions/deploy`) return send(res, 201, await deploy(req, url));
    if (call === `PUT ${base}/functions`) return send(res, 200, { functions: await bulkUpdate(req) });
    unexpected.push(call);
    send(res, 404, { message: `no route for ${call}` });
  };

  const server = createServer((req, res) => {
    route(req, res).catch((error: unknown) => {
      const status = error instanceof HttpError ? error.status : 500;
      send(res, status, { message: error instanceof Error ? error.message : String(error) });
    });
  });
  await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', resolveListen));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    profileYaml: [`name: stand-in`, `api_url: ${url}`, `dashboard_url: ${url}`, `project_host: supabase.invalid`, ''].join('\n'),
    deploys,
    bulkUpdates,
    unexpected,
    close: () =>
      new Promise<void>((resolveClose) => {
        server.close(() => resolveClose());
        server.closeAllConnections(); // the CLI's keep-alive sockets
      }),
  };
}
