#!/usr/bin/env node
import { join } from 'node:path';
import { isInVocabulary, VOCABULARY } from '@rubi/contracts/vocabulary.ts';
import { Command } from 'commander';
import { Agent } from './agent.ts';
import { AgentLockedError, lockHolder } from './agent-lock.ts';
import { ConfigError, loadConfig, orList, readEnvFile, type AgentConfig, type Platform } from './config.ts';
import { formatDoctor, runDoctor } from './doctor.ts';
import { compileEa, formatCompile } from './ea-build.ts';
import { LAYOUTS } from './layout.ts';
import { createLogger, SecretRegistry } from './log.ts';
import { createMetrics } from './metrics.ts';
import { isAlive } from './process.ts';
import { StateStore } from './state-store.ts';
import { formatStatus } from './status.ts';
import { VERSION } from './version.ts';

/**
 * rubi-vps-agent run | status | doctor | compile. `run` exits 2 on a bad configuration, 3 when another
 * agent runs on the same terminals folder (src/agent-lock.ts), 1 on any other failure to start. Configuration comes from the environment and from a
 * `.env` file (`--dotenv <file>`, default ./.env); the environment wins.
 */

const program = new Command();
program
  .name('rubi-vps-agent')
  .description('Provisions and supervises MetaTrader 4/5 terminals for the Rubi MT Bridge on this VPS host')
  .version(VERSION)
  // Not --env-file: Node reads that flag even after the script name and fails on a missing file.
  .option('--dotenv <path>', 'a .env file with the settings the environment does not set', '.env');

function envFile(): string {
  return program.opts<{ dotenv: string }>().dotenv;
}

/** The validated configuration, or exit 2 with one line per problem. */
function configOrExit(): AgentConfig {
  try {
    return loadConfig({ envFile: envFile() });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n\nRun "rubi-vps-agent doctor" for a full check; vps-agent/README.md lists every setting.\n`);
      process.exit(2);
    }
    throw error;
  }
}

program
  .command('run')
  .description('claim, launch and supervise terminals until SIGTERM/SIGINT')
  .action(async () => {
    const config = configOrExit();
    const secrets = new SecretRegistry();
    const log = createLogger({ level: config.logLevel, secrets });
    const agent = new Agent({ config, log, metrics: createMetrics(), secrets });
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      agent
        .shutdown(signal)
        .then(() => process.exit(0))
        .catch((error: unknown) => {
          log.fatal({ err: error }, 'shutdown failed');
          process.exit(1);
        });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('unhandledRejection', (error) => log.error({ err: error }, 'unhandled rejection'));
    try {
      await agent.start();
    } catch (error) {
      if (error instanceof AgentLockedError) {
        // Before the first log line: nothing was read, claimed or launched.
        process.stderr.write(`rubi-vps-agent: ${error.message}\n`);
        process.exit(3);
      }
      log.fatal({ err: error }, 'agent could not start');
      process.exit(1);
    }
  });

program
  .command('status')
  .description("print this host's terminals from the state file")
  .option('--json', 'print the state file as JSON')
  .option('--terminals-base-path <path>', 'defaults to TERMINALS_BASE_PATH')
  .action(async (opts: { json?: boolean; terminalsBasePath?: string }) => {
    const base = opts.terminalsBasePath ?? process.env.TERMINALS_BASE_PATH ?? readEnvFile(envFile()).TERMINALS_BASE_PATH;
    if (!base) {
      process.stderr.write('TERMINALS_BASE_PATH is not set (environment, .env or --terminals-base-path)\n');
      process.exit(2);
    }
    const store = new StateStore(base);
    const state = await store.load();
    // Only reads: the running agent's pid comes from its lock, which status never takes.
    process.stdout.write(opts.json ? JSON.stringify(state, null, 2) + '\n' : formatStatus(state, store.path, isAlive, await lockHolder(base)));
  });

program
  .command('doctor')
  .description('check paths, Wine, the backend URL and the host key, and say what to fix')
  .action(async () => {
    const results = await runDoctor({ envFile: envFile() });
    process.stdout.write(formatDoctor(results));
    process.exit(results.some((r) => r.status === 'fail') ? 1 : 0);
  });

program
  .command('compile')
  .description("compile the EA sources (MT5_EA_SOURCE / MT4_EA_SOURCE) with the base install's MetaEditor")
  .option('--platform <platform>', 'MT4 or MT5 (default: every platform configured with sources)')
  .action(async (opts: { platform?: string }) => {
    const config = configOrExit();
    const wanted = opts.platform?.toUpperCase();
    if (wanted !== undefined && !isInVocabulary('platform', wanted)) {
      process.stderr.write(`--platform must be ${orList(VOCABULARY.platform)} (got "${opts.platform}")\n`);
      process.exit(2);
    }
    const platforms = (['MT5', 'MT4'] as Platform[]).filter((p) => (wanted ? p === wanted : config.platforms[p]?.eaSource !== undefined));
    const sourced = platforms.filter((p) => config.platforms[p]?.eaSource !== undefined);
    for (const p of platforms.filter((x) => !sourced.includes(x))) {
      const install = config.platforms[p];
      process.stderr.write(install ? `${p}: uses the compiled EA ${install.eaPath} (${p}_EA_PATH): nothing to compile; set ${p}_EA_SOURCE instead\n` : `${p}: not configured (${p}_PATH, ${p}_EA_SOURCE)\n`);
    }
    if (sourced.length === 0) {
      if (platforms.length === 0) process.stderr.write('No EA sources configured: set MT5_EA_SOURCE and/or MT4_EA_SOURCE (see vps-agent/README.md)\n');
      process.exit(2);
    }
    let failed = false;
    for (const p of sourced) {
      const install = config.platforms[p]!;
      process.stdout.write(`${p}: compiling ${install.eaSource} with ${join(install.basePath, LAYOUTS[p].editor)}\n`);
      const outcome = await compileEa({ platform: p, basePath: install.basePath, source: install.eaSource!, launcher: config.launcher, timeoutMs: config.compileTimeoutMs, force: true });
      process.stdout.write(formatCompile(outcome));
      if (!outcome.ok) failed = true;
    }
    process.exit(failed ? 1 : 0);
  });

await program.parseAsync(process.argv);
