// The @rubi/db conformance suite (the same one the PGlite adapter passes in the unit tier) against
// the integration tier's PostgreSQL 15 through postgres.js: both adapters must map values, roles,
// claims, transactions and errors identically. It creates its own schema and drops it afterwards.
import { createPostgresDb } from '@rubi/db';
import { describe } from 'vitest';
import { describeDbConformance } from '../../packages/db/test/conformance.ts';
import { databaseUrl } from './support/context.ts';

describe('createPostgresDb', () => {
  describeDbConformance('PostgreSQL 15 (postgres.js)', async () => createPostgresDb(databaseUrl(), { max: 2 }));
});
