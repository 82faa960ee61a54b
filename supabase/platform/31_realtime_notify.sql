-- 31: local only. How the embedded Realtime (packages/local-server/src/realtime) learns of new
-- "Broadcast from Database" messages: on Supabase, Realtime reads realtime.messages through
-- logical replication; here every inserted row is announced with NOTIFY on channel
-- `realtime_messages`, carrying only the row id (a NOTIFY payload is capped at 8000 bytes, a
-- message is not). Delivered on commit only, so rolled-back inserts (Realtime's authorisation
-- probes, a failed transaction) are never announced. Harmless where nobody listens (the
-- PostgreSQL 15 test cluster).
create or replace function realtime.notify_message() returns trigger
language plpgsql
as $$
begin
  perform pg_notify('realtime_messages', new.id::text);
  return null;
end;
$$;

drop trigger if exists messages_notify on realtime.messages;
create trigger messages_notify after insert on realtime.messages
  for each row execute function realtime.notify_message();
