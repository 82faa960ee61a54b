// Runs the shared conformance suite against a real PostgreSQL when TEST_DATABASE_URL is set,
// e.g. TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres (a superuser: it creates roles).
import { describe } from 'vitest';
import { createPostgresDb } from '../src/index.ts';
import { describeDbConformance } from './conformance.ts';

const url = process.env['TEST_DATABASE_URL'];

describe.runIf(url)('createPostgresDb', () => {
  describeDbConformance('PostgreSQL (postgres.js)', async () => createPostgresDb(url ?? '', { max: 2 }));
});
