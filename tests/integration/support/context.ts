import { inject } from 'vitest';

/** The integration database URL that tests/integration/global-setup.ts provided. */
export function databaseUrl(): string {
  const url = inject('databaseUrl');
  if (typeof url !== 'string' || url === '') {
    throw new Error('databaseUrl was not provided: run this file through the `integration` vitest project');
  }
  return url;
}
