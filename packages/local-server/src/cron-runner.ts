import { asOwner, type Db } from '@rubi/db';
import { Cron } from 'croner';

export interface CronRun {
  jobname: string;
  status: 'succeeded' | 'failed';
  message: string;
}

/**
 * Runs the jobs the migrations scheduled (read from the PGlite `cron` stand-in's cron.job) on
 * their schedules, in process, recording each run in cron.job_run_details as pg_cron does.
 * Schedules are parsed by croner (standard 5-field syntax, UTC), never by hand.
 */
export class CronRunner {
  private readonly timers: Cron[] = [];

  constructor(
    private readonly db: Db,
    private readonly onRun: (run: CronRun) => void = () => {},
  ) {}

  async start(): Promise<number> {
    const jobs = await this.db.query<{ jobid: number; jobname: string; schedule: string; command: string }>(
      asOwner(),
      'select jobid, jobname, schedule, command from cron.job where active order by jobid',
    );
    for (const job of jobs) {
      this.timers.push(new Cron(job.schedule, { timezone: 'UTC', protect: true }, async () => {
        await this.runJob(job);
      }));
    }
    return jobs.length;
  }

  /** Runs one job now (POST /_local/cron/{jobname}/run: `npm run demo` settles cashback without waiting for midnight). */
  async runJob(job: { jobid: number; jobname: string; command: string }): Promise<CronRun> {
    const started = new Date();
    let run: CronRun;
    try {
      const rows = await this.db.query<Record<string, unknown>>(asOwner(), job.command);
      run = { jobname: job.jobname, status: 'succeeded', message: JSON.stringify(rows[0] ?? {}) };
    } catch (error) {
      run = { jobname: job.jobname, status: 'failed', message: error instanceof Error ? error.message : String(error) };
    }
    await this.db.query(
      asOwner(),
      `insert into cron.job_run_details (jobid, database, username, command, status, return_message, start_time, end_time)
       values ($1, current_database(), current_user, $2, $3, $4, $5, now())`,
      [job.jobid, job.command, run.status, run.message, started],
    );
    this.onRun(run);
    return run;
  }

  async find(jobname: string): Promise<{ jobid: number; jobname: string; command: string } | undefined> {
    const [job] = await this.db.query<{ jobid: number; jobname: string; command: string }>(
      asOwner(),
      'select jobid, jobname, command from cron.job where jobname = $1',
      [jobname],
    );
    return job;
  }

  stop(): void {
    for (const timer of this.timers) timer.stop();
    this.timers.length = 0;
  }
}
