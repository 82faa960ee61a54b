// Sign in or sign up with Supabase Auth (email and password).
import { useState } from 'preact/hooks';
import { supabase } from '../supabase.ts';

export function SignIn() {
  const [mode, setMode] = useState<'in' | 'up'>('in');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [pending, setPending] = useState(false);
  const [message, setMessage] = useState<string | undefined>(undefined);

  const submit = async (e: Event) => {
    e.preventDefault();
    setPending(true);
    setMessage(undefined);
    const auth = supabase().auth;
    const { data, error } = mode === 'in' ? await auth.signInWithPassword({ email, password }) : await auth.signUp({ email, password });
    setPending(false);
    if (error) setMessage(error.message);
    else if (!data.session) setMessage('Check your email to confirm the address, then sign in.');
  };

  return (
    <main class="container narrow">
      <article>
        <header>
          <h1>Rubi MT Bridge</h1>
          <p>Your MetaTrader accounts, signals and cashback, live.</p>
        </header>
        <form onSubmit={submit}>
          <label>
            Email
            <input type="email" name="email" autocomplete="email" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
          </label>
          <label>
            Password
            <input
              type="password"
              name="password"
              autocomplete={mode === 'in' ? 'current-password' : 'new-password'}
              minLength={6}
              required
              value={password}
              onInput={(e) => setPassword(e.currentTarget.value)}
            />
          </label>
          {message && (
            <p class="error-note" role="alert">
              {message}
            </p>
          )}
          <button type="submit" aria-busy={pending} disabled={pending}>
            {mode === 'in' ? 'Sign in' : 'Create account'}
          </button>
        </form>
        <footer>
          {mode === 'in' ? 'No account yet? ' : 'Already registered? '}
          <a href="#" onClick={(e) => (e.preventDefault(), setMode(mode === 'in' ? 'up' : 'in'), setMessage(undefined))}>
            {mode === 'in' ? 'Sign up' : 'Sign in'}
          </a>
        </footer>
      </article>
    </main>
  );
}
