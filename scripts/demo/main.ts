// `npm run demo`: the whole story against the local backend.
//
//   npm run demo                         uses `npm start` if it runs on http://127.0.0.1:54321,
//                                        else starts a throwaway server of its own
//   npm run demo -- --url <url>          another local server
//   npm run demo -- --service-role-key <key> | --data-dir <dir>
//                                        where the server's service_role key is (default: the data
//                                        folder the server reports, e.g. .data/local)
//
// Runs under Deno (deno.json maps @rubi/* to the workspace sources). Exit code 0 only if every
// step succeeded.
import process from 'node:process';
import { parseArgs } from 'node:util';
import { Backend } from './backend.ts';
import { serviceRoleKeyFor, startLocalServer, type StartedServer } from './local-stack.ts';
import { runDemo } from './the-story.ts';

const HELP = `Usage: npm run demo -- [--url <url>] [--service-role-key <key>] [--data-dir <dir>] [--own-server]

Plays the whole Rubi MT Bridge story against a local backend and prints a summary table.
  --url <url>                 the local server (default $SUPABASE_URL or http://127.0.0.1:54321)
  --service-role-key <key>    its service_role key (default $SUPABASE_SERVICE_ROLE_KEY, else
                              <data dir>/local-secrets.json)
  --data-dir <dir>            the server's data folder, if it does not report one
  --own-server                always start a throwaway server on a free port
`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      url: { type: 'string', default: process.env.SUPABASE_URL ?? 'http://127.0.0.1:54321' },
      'service-role-key': { type: 'string' },
      'data-dir': { type: 'string' },
      'own-server': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }

  console.log('\n Rubi MT Bridge — the whole story\n');
  let own: StartedServer | undefined;
  let backend = new Backend(values.url);
  const info = values['own-server'] ? undefined : await backend.localInfo();
  try {
    if (info) {
      console.log(` Backend: ${info.name} at ${backend.url}`);
    } else {
      console.log(
        values['own-server'] ? ' Starting a throwaway local server…' : ` Nothing answers at ${backend.url}: starting a throwaway local server (npm start keeps one running)…`,
      );
      const t0 = performance.now();
      own = await startLocalServer();
      backend = own.backend;
      console.log(` Backend: ${backend.url} (ready in ${((performance.now() - t0) / 1000).toFixed(1)}s, data in ${own.dataDir}, removed at the end)`);
    }
    const serviceRoleKey = await serviceRoleKeyFor({
      given: values['service-role-key'],
      dataDirs: [values['data-dir'], info?.data_dir, own?.dataDir],
    });

    const result = await runDemo({ backend, serviceRoleKey });
    console.log(`\n Summary\n\n${result.story.summary()}\n`);
    if (result.user) {
      // The dashboard (served by npm start at /) shows what the story did: sign in as its trader.
      console.log(` Dashboard: ${backend.url}/   sign in as ${result.user.email} / ${result.user.password}`);
      console.log(own ? ' (this throwaway server stops now: run `npm start` first, then `npm run demo`, to keep it)\n' : '');
    }
    if (!result.ok) {
      console.log(` ✗ The demo failed at "${result.story.failed?.title}": ${result.story.failed?.outcome}\n`);
      return 1;
    }
    console.log(' ✓ Every step succeeded.\n');
    return 0;
  } catch (error) {
    console.error(`\n ✗ ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  } finally {
    await own?.stop();
  }
}

process.exit(await main());
