export { createLocalServer, type LocalServer, type LocalServerOptions } from './server.ts';
export { CronRunner, type CronRun } from './cron-runner.ts';
