-- Trading accounts: no Realtime message for bookkeeping-only updates.
--
-- Every VPS heartbeat (every 30 s by default) renews the lease of every account the host holds,
-- and every report from an EA (every 60 s, empty batches included) moves last_seen_at. Each was a
-- row UPDATE broadcast to the owner: with 500 accounts on a host that is 1,000 messages a minute
-- telling dashboards nothing (and Realtime messages are metered). An update that changes only
-- lease_expires_at, last_seen_at and updated_at is no longer broadcast; any other change is,
-- with the whole record as before. A dashboard showing "last seen" refreshes it from the API.

drop trigger trading_accounts_broadcast on public.trading_accounts;

create trigger trading_accounts_broadcast after insert or delete on public.trading_accounts
  for each row execute function private.broadcast_to_owner();
create trigger trading_accounts_broadcast_update after update on public.trading_accounts
  for each row
  when ((to_jsonb(old) - array['lease_expires_at', 'last_seen_at', 'updated_at'])
        is distinct from (to_jsonb(new) - array['lease_expires_at', 'last_seen_at', 'updated_at']))
  execute function private.broadcast_to_owner();
