// Where the dashboard finds its Supabase project: config.json, then the build's variables, then
// its own origin (npm start, zero configuration).
import { describe, expect, it } from 'vitest';
import { LOCAL_PUBLISHABLE_KEY, resolveConfig } from '../src/config.ts';

describe('dashboard configuration', () => {
  const build = { url: 'https://build.supabase.co', key: 'sb_publishable_build' };
  it('prefers a runtime config.json next to index.html', () => {
    expect(resolveConfig({ supabaseUrl: 'https://ref.supabase.co/', publishableKey: 'sb_publishable_x' }, build, 'http://127.0.0.1:54321')).toEqual({
      supabaseUrl: 'https://ref.supabase.co',
      publishableKey: 'sb_publishable_x',
      source: 'config.json',
    });
  });
  it('falls back to the build-time Vite variables, then to its own origin', () => {
    expect(resolveConfig({ supabaseUrl: '', publishableKey: 42 }, build, 'http://x').source).toBe('build');
    expect(resolveConfig(undefined, {}, 'http://127.0.0.1:54321')).toEqual({
      supabaseUrl: 'http://127.0.0.1:54321',
      publishableKey: LOCAL_PUBLISHABLE_KEY,
      source: 'same origin',
    });
  });
});
