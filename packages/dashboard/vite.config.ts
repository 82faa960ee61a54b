// Vite build of the dashboard: Preact's JSX through Vite's own oxc transform (no plugin), relative
// asset URLs so the static files work from any folder of any host, and a small vendor split so a
// dashboard change does not re-download supabase-js.
import { defineConfig } from 'vite';

export default defineConfig({
  base: './',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: false,
    chunkSizeWarningLimit: 400,
  },
  server: {
    // `npm run dev -w @rubi/dashboard` next to `npm start`: the same origin for the API as in production.
    proxy: {
      '/functions': 'http://127.0.0.1:54321',
      '/auth': 'http://127.0.0.1:54321',
      '/realtime': { target: 'ws://127.0.0.1:54321', ws: true },
    },
  },
});
