// Values that tests/integration/global-setup.ts hands to test files through `project.provide`.
import 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** postgres:// URL of the integration database (throwaway cluster, or TEST_DATABASE_URL). */
    databaseUrl: string;
  }
}
