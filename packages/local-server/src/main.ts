// `npm start`: the whole backend on one machine, under Deno. Only this file touches Deno.*.
//
// Before anything is opened or migrated it takes the two things another `npm start` could hold:
// the port (bound first; requests get 503 until the backend is ready) and the data folder (an
// exclusive lock on <data dir>/.lock, released by the OS when the process ends, however it ends).
// Either one taken, a bad flag or an unusable address: one line on stderr and exit code 1 (2 for
// usage), never a stack trace.
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { openDatabaseInWorker } from './db-worker/spawn.ts';
import { createLocalServer } from './server.ts';

function die(message: string, code = 1): never {
  console.error(`npm start: ${message}`);
  Deno.exit(code);
}

function options() {
  try {
    return parseArgs({
      args: Deno.args,
      options: {
        port: { type: 'string', default: Deno.env.get('PORT') ?? '54321' },
        host: { type: 'string', default: '127.0.0.1' },
        'data-dir': { type: 'string', default: Deno.env.get('RUBI_DATA_DIR') ?? '.data/local' },
        'public-url': { type: 'string', default: Deno.env.get('RUBI_PUBLIC_URL') },
        'in-memory': { type: 'boolean', default: false },
        quiet: { type: 'boolean', default: false },
      },
    }).values;
  } catch (error) {
    die(`${error instanceof Error ? error.message : String(error)} (flags: --port --host --data-dir --public-url --in-memory --quiet)`, 2);
  }
}

/** Binds the port now; the handler is swapped in once the backend is ready. */
function listen(
  hostname: string,
  port: number,
  handle: { current: (request: Request, peer: Deno.NetAddr) => Response | Promise<Response> },
): Deno.HttpServer {
  try {
    return Deno.serve({ hostname, port, onListen: () => {} }, (request, info) => handle.current(request, info.remoteAddr));
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      die(`port ${port} on ${hostname} is already in use (another npm start?): stop it, or pick another port: npm start -- --port <n>`);
    }
    if (error instanceof Deno.errors.AddrNotAvailable) die(`cannot listen on ${hostname}: not an address of this machine (try --host 127.0.0.1)`);
    if (error instanceof Deno.errors.PermissionDenied) die(`not allowed to listen on ${hostname}:${port}: pick a port above 1023`);
    throw error;
  }
}

/** An exclusive lock on the data folder for the life of this process: two PGlite instances on one folder corrupt it. */
async function lockDataDir(dir: string): Promise<Deno.FsFile> {
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (error) {
    die(`cannot create the data folder ${dir}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const file = await Deno.open(`${dir}/.lock`, { read: true, write: true, create: true });
  if (!(await file.tryLock(true))) {
    const holder = (await Deno.readTextFile(`${dir}/.lock`).catch(() => '')).trim();
    die(
      `the data folder ${dir} is in use by another npm start${/^\d+$/.test(holder) ? ` (pid ${holder})` : ''}: ` +
        'stop it, or use another folder: npm start -- --data-dir <dir> (or --in-memory)',
    );
  }
  await file.truncate(0);
  await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
  return file;
}

const values = options();
const port = Number(values.port);
if (!/^\d{1,5}$/.test(values.port) || port > 65535) die(`--port must be a whole number from 0 to 65535, not "${values.port}"`, 2);
// The URL clients use: token issuer, and the register/trades URLs handed to EAs. Listening on every
// interface (0.0.0.0 / ::) is not an address a client can call: default to loopback then, and let
// --public-url name the address other machines (a VPS agent under test) reach this one by.
const wildcard = values.host === '0.0.0.0' || values.host === '::';
const publicUrl = (values['public-url'] ?? `http://${wildcard ? '127.0.0.1' : values.host}:${port}`).replace(/\/+$/, '');
if (!/^https?:\/\/[^/\s]+/.test(publicUrl)) die(`--public-url must be an http(s) URL, not "${publicUrl}"`, 2);
const dataDir = values['in-memory'] ? undefined : resolve(values['data-dir']);

const started = performance.now();
const handle: { current: (request: Request, peer: Deno.NetAddr) => Response | Promise<Response> } = {
  current: (_request: Request): Response =>
    Response.json({ error: { code: 'unavailable', message: 'the local backend is starting (applying migrations)' } }, { status: 503, headers: { 'retry-after': '1' } }),
};
const http = listen(values.host, port, handle);
const lock = dataDir ? await lockDataDir(dataDir) : undefined;

const server = await createLocalServer({
  publicUrl,
  ...(dataDir ? { dataDir } : {}),
  // PGlite on a thread of its own (a second core); RUBI_DB_WORKER=0 keeps it on this one.
  ...(Deno.env.get('RUBI_DB_WORKER') === '0' ? {} : { openDatabase: openDatabaseInWorker }),
  logSink: values.quiet ? () => {} : (line) => console.log(line),
  // A job that changed nothing stays quiet; one that did something or failed is logged.
  onCronRun: (run) => {
    const didSomething = /[1-9]/.test(run.message);
    if (run.status === 'failed' || (didSomething && !values.quiet)) {
      console.log(JSON.stringify({ level: run.status === 'failed' ? 'error' : 'info', msg: 'cron', ...run }));
    }
  },
});
handle.current = (request, peer) => (server.realtime.isUpgrade(request) ? upgradeRealtime(request) : server.fetch(withClientIp(request, peer)));

/**
 * Like Supabase's gateway in front of Edge Functions: `X-Forwarded-For` names the client, whatever
 * the client sent (the functions' per-IP rate limits read its first entry: packages/edge/src/rate-limit.ts).
 */
function withClientIp(request: Request, peer: Deno.NetAddr): Request {
  const headers = new Headers(request.headers);
  headers.set('x-forwarded-for', peer.hostname);
  return new Request(request, { headers });
}

/** Realtime: the core (src/realtime) decides; Deno does the WebSocket. */
async function upgradeRealtime(request: Request): Promise<Response> {
  const decision = await server.realtime.accept(request);
  if (!decision.ok) return decision.response;
  // A client offering subprotocols (Phoenix's "phoenix" + auth token) must get one back.
  const offered = (request.headers.get('sec-websocket-protocol') ?? '').split(',').map((p) => p.trim());
  const { socket, response } = Deno.upgradeWebSocket(request, offered.includes('phoenix') ? { protocol: 'phoenix' } : {});
  socket.binaryType = 'arraybuffer';
  let connection: ReturnType<typeof decision.open> | undefined;
  socket.onopen = () => {
    connection = decision.open({
      send: (data) => socket.send(data),
      close: (code, reason) => socket.close(code, reason),
      get bufferedAmount() {
        return socket.bufferedAmount;
      },
    });
  };
  socket.onmessage = (event) => connection?.receive(event.data as string | ArrayBuffer);
  socket.onclose = () => connection?.closed();
  socket.onerror = () => connection?.closed();
  return response;
}

const seconds = ((performance.now() - started) / 1000).toFixed(1);
console.log(`
  Rubi MT Bridge — local backend ready in ${seconds}s

  Dashboard    ${publicUrl}/
  API          ${publicUrl}/functions/v1/<name>   (${server.functionNames.join(', ')})
  API docs     ${publicUrl}/docs
  Health       ${publicUrl}/health   (and /functions/v1/<name>/health)
  Auth         ${publicUrl}/auth/v1   (development stand-in: signUp, signInWithPassword, refresh, getUser)
  Realtime     ${publicUrl.replace(/^http/, 'ws')}/realtime/v1/websocket   (Broadcast from Database, private channels by RLS, presence)
  JWKS         ${publicUrl}/auth/v1/.well-known/jwks.json
  Database     PGlite ${dataDir ? `in ${dataDir}/pglite` : 'in memory (--in-memory)'}; ${server.applied.length} SQL files applied this start
  Cron         pg_cron jobs from the migrations, run in process (UTC)
  Operator     ${publicUrl}/_local   (host keys, run a cron job now; service_role key ${
    dataDir ? `in ${dataDir}/local-secrets.json` : `for this run: ${server.serviceRoleKey}`
  })

  Next: npm run demo   (in a second terminal)      Stop: Ctrl-C
`);

let stopping = false;
async function stop(signal: string) {
  if (stopping) return;
  stopping = true;
  console.log(`\n  ${signal}: stopping…`);
  await http.shutdown();
  await server.close();
  lock?.close();
  Deno.exit(0);
}
Deno.addSignalListener('SIGINT', () => void stop('SIGINT'));
Deno.addSignalListener('SIGTERM', () => void stop('SIGTERM'));
