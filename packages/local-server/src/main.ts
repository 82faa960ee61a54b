// `npm start`: the whole backend on one machine, under Deno. Only this file touches Deno.*.
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { createLocalServer } from './server.ts';

const { values } = parseArgs({
  args: Deno.args,
  options: {
    port: { type: 'string', default: Deno.env.get('PORT') ?? '54321' },
    host: { type: 'string', default: '127.0.0.1' },
    'data-dir': { type: 'string', default: Deno.env.get('RUBI_DATA_DIR') ?? '.data/local' },
    'public-url': { type: 'string', default: Deno.env.get('RUBI_PUBLIC_URL') },
    'in-memory': { type: 'boolean', default: false },
    quiet: { type: 'boolean', default: false },
  },
});
const port = Number(values.port);
// The URL clients use: token issuer, and the register/trades URLs handed to EAs. Listening on every
// interface (0.0.0.0 / ::) is not an address a client can call: default to loopback then, and let
// --public-url name the address other machines (a VPS agent under test) reach this one by.
const wildcard = values.host === '0.0.0.0' || values.host === '::';
const publicUrl = (values['public-url'] ?? `http://${wildcard ? '127.0.0.1' : values.host}:${port}`).replace(/\/+$/, '');
const dataDir = values['in-memory'] ? undefined : resolve(values['data-dir']);

const started = performance.now();
const server = await createLocalServer({
  publicUrl,
  ...(dataDir ? { dataDir } : {}),
  logSink: values.quiet ? () => {} : (line) => console.log(line),
  // A job that changed nothing stays quiet; one that did something or failed is logged.
  onCronRun: (run) => {
    const didSomething = /[1-9]/.test(run.message);
    if (run.status === 'failed' || (didSomething && !values.quiet)) {
      console.log(JSON.stringify({ level: run.status === 'failed' ? 'error' : 'info', msg: 'cron', ...run }));
    }
  },
});
const http = Deno.serve({ hostname: values.host, port, onListen: () => {} }, server.fetch);

const seconds = ((performance.now() - started) / 1000).toFixed(1);
console.log(`
  Rubi MT Bridge — local backend ready in ${seconds}s

  API          ${publicUrl}/functions/v1/<name>   (${server.functionNames.join(', ')})
  API docs     ${publicUrl}/docs
  Auth         ${publicUrl}/auth/v1   (development stand-in: signUp, signInWithPassword, refresh, getUser)
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
  Deno.exit(0);
}
Deno.addSignalListener('SIGINT', () => void stop('SIGINT'));
Deno.addSignalListener('SIGTERM', () => void stop('SIGTERM'));
