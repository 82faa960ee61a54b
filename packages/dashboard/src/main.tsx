// Entry point: find the Supabase project (config.json, build variables or this origin), create the
// client, render the app.
import '@picocss/pico/css/pico.min.css';
import './styles.css';
import { render } from 'preact';
import { App } from './App.tsx';
import { loadConfig } from './config.ts';
import { initSupabase } from './supabase.ts';

const root = document.getElementById('app')!;
loadConfig()
  .then((config) => {
    initSupabase(config);
    document.documentElement.dataset.supabaseSource = config.source;
    render(<App />, root);
  })
  .catch((error: unknown) => {
    root.textContent = `The dashboard could not start: ${error instanceof Error ? error.message : String(error)}`;
  });
