-- 30: the database side of Supabase Realtime "Broadcast from Database".
-- Triggers call realtime.send / realtime.broadcast_changes, which insert into the partitioned
-- realtime.messages table; the Realtime server streams those rows to subscribers of the topic.
-- Private topics are authorised by RLS policies on realtime.messages that use realtime.topic(),
-- the topic the client is joining (Realtime sets it in `realtime.topic` while it checks).
create schema if not exists realtime;
grant usage on schema realtime to anon, authenticated, service_role;

create table if not exists realtime.messages (
  topic text not null,
  extension text not null,
  payload jsonb,
  event text,
  private boolean default false,
  updated_at timestamp not null default now(),
  inserted_at timestamp not null default now(),
  id uuid not null default gen_random_uuid(),
  primary key (id, inserted_at)
) partition by range (inserted_at);

-- Supabase creates daily partitions; without any partition an insert fails and realtime.send
-- only raises a warning, so messages would silently vanish. A default partition catches all.
create table if not exists realtime.messages_default partition of realtime.messages default;

alter table realtime.messages enable row level security;
grant select, insert on realtime.messages to anon, authenticated;
grant all on realtime.messages to service_role;
-- Reading a partition directly would bypass the parent's policies.
revoke all on realtime.messages_default from anon, authenticated;

create or replace function realtime.topic() returns text
language sql stable
as $$
  select nullif(current_setting('realtime.topic', true), '')::text
$$;

create or replace function realtime.send(payload jsonb, event text, topic text, private boolean default true)
returns void
language plpgsql
as $$
begin
  begin
    -- Realtime reads the topic from this setting while it evaluates policies.
    perform set_config('realtime.topic', topic, true);
    insert into realtime.messages (payload, event, topic, private, extension)
    values (payload, event, topic, private, 'broadcast');
  exception when others then
    -- Broadcasting must never break the writing transaction: Supabase only warns.
    raise warning 'ErrorSendingBroadcastMessage: %', sqlerrm;
  end;
end;
$$;

create or replace function realtime.broadcast_changes(
  topic_name text,
  event_name text,
  operation text,
  table_name text,
  table_schema text,
  new record,
  old record,
  level text default 'ROW'
) returns void
language plpgsql
as $$
declare
  row_data jsonb := '{}'::jsonb;
begin
  if level = 'STATEMENT' then
    raise exception 'function can only be triggered for each row, not for each statement';
  end if;
  if operation in ('INSERT', 'UPDATE') then
    row_data := jsonb_build_object('record', to_jsonb(new));
  end if;
  if operation in ('UPDATE', 'DELETE') then
    row_data := row_data || jsonb_build_object('old_record', to_jsonb(old));
  end if;
  perform realtime.send(
    row_data || jsonb_build_object('operation', operation, 'table', table_name, 'schema', table_schema),
    event_name,
    topic_name,
    true
  );
end;
$$;

grant execute on function realtime.topic() to anon, authenticated, service_role;

-- Postgres Changes listens through this publication; we use Broadcast instead (see design.md),
-- but the publication exists on every Supabase project.
do $$
begin
  if not exists (select 1 from pg_publication where pubname = 'supabase_realtime') then
    create publication supabase_realtime;
  end if;
end
$$;
