// The application shell: waits for the Supabase session, starts the user's live feed while signed
// in, and renders the page the hash route names.
import type { Session } from '@supabase/supabase-js';
import { useEffect, useState } from 'preact/hooks';
import { Layout } from './components/Layout.tsx';
import { LiveContext } from './hooks.ts';
import { LiveFeed } from './live.ts';
import { AccountDetail } from './pages/AccountDetail.tsx';
import { Accounts } from './pages/Accounts.tsx';
import { Keys } from './pages/Keys.tsx';
import { Notifications } from './pages/Notifications.tsx';
import { Report } from './pages/Report.tsx';
import { SessionDetail } from './pages/SessionDetail.tsx';
import { Sessions } from './pages/Sessions.tsx';
import { Signals } from './pages/Signals.tsx';
import { SignIn } from './pages/SignIn.tsx';
import { useRoute, type Route } from './router.ts';
import { supabase } from './supabase.ts';

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case 'account':
      return <AccountDetail id={route.id} />;
    case 'keys':
      return <Keys />;
    case 'signals':
      return <Signals />;
    case 'sessions':
      return <Sessions />;
    case 'session':
      return <SessionDetail id={route.id} />;
    case 'notifications':
      return <Notifications />;
    case 'report':
      return <Report key={route.accountId ?? 'all'} accountId={route.accountId} />;
    default:
      return <Accounts />;
  }
}

export function App() {
  const route = useRoute();
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [feed, setFeed] = useState<LiveFeed | null>(null);
  const userId = session?.user.id;

  useEffect(() => {
    const auth = supabase().auth;
    auth.getSession().then(({ data }) => setSession(data.session));
    const { data } = auth.onAuthStateChange((_event, next) => setSession(next));
    return () => data.subscription.unsubscribe();
  }, []);

  // One live feed per signed-in user; a new user (or signing out) replaces it.
  useEffect(() => {
    if (!userId) return;
    const live = new LiveFeed(supabase(), userId);
    setFeed(live);
    live.start().catch(() => undefined);
    return () => {
      setFeed(null);
      void live.stop();
    };
  }, [userId]);

  if (session === undefined) return <p aria-busy="true">Loading…</p>;
  if (!session) return <SignIn />;
  return (
    <LiveContext.Provider value={feed}>
      <Layout route={route} email={session.user.email ?? ''} onSignOut={() => void supabase().auth.signOut()}>
        {/* Keyed by user: nothing of one user's data survives into another's session. */}
        <Page key={`${session.user.id}:${route.page}`} route={route} />
      </Layout>
    </LiveContext.Provider>
  );
}
