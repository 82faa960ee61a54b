// Where the dashboard finds its Supabase project. In order: a runtime `config.json` next to
// index.html (so one build serves any project), the Vite variables given at build time, then the
// page's own origin with a placeholder key: what `npm start` serves, with zero configuration.

export interface DashboardConfig {
  supabaseUrl: string;
  publishableKey: string;
  /** Where the values came from, shown in the footer. */
  source: 'config.json' | 'build' | 'same origin';
}

/** Any non-empty key: the local server accepts every publishable key, as its functions do. */
export const LOCAL_PUBLISHABLE_KEY = 'local-publishable-key';

interface RuntimeConfig {
  supabaseUrl?: unknown;
  publishableKey?: unknown;
}

const text = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim().replace(/\/+$/, '') : undefined);

/** Pure resolution, for tests: runtime file first, then the build, then the origin. */
export function resolveConfig(runtime: RuntimeConfig | undefined, build: { url?: string; key?: string }, origin: string): DashboardConfig {
  const runtimeUrl = text(runtime?.supabaseUrl);
  const runtimeKey = text(runtime?.publishableKey);
  if (runtimeUrl && runtimeKey) return { supabaseUrl: runtimeUrl, publishableKey: runtimeKey, source: 'config.json' };
  const buildUrl = text(build.url);
  const buildKey = text(build.key);
  if (buildUrl && buildKey) return { supabaseUrl: buildUrl, publishableKey: buildKey, source: 'build' };
  return { supabaseUrl: origin, publishableKey: LOCAL_PUBLISHABLE_KEY, source: 'same origin' };
}

/** Reads ./config.json if the host serves one (a missing file or non-JSON answer is ignored). */
export async function loadConfig(): Promise<DashboardConfig> {
  let runtime: RuntimeConfig | undefined;
  try {
    const res = await fetch(new URL('config.json', document.baseURI), { cache: 'no-store', headers: { accept: 'application/json' } });
    if (res.ok && (res.headers.get('content-type') ?? '').includes('json')) runtime = (await res.json()) as RuntimeConfig;
  } catch {
    runtime = undefined;
  }
  return resolveConfig(runtime, { url: import.meta.env.VITE_SUPABASE_URL, key: import.meta.env.VITE_SUPABASE_PUBLISHABLE_KEY }, location.origin);
}
