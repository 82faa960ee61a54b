-- Closed trades: one Realtime message per account per statement instead of one per row.
--
-- Measured (bench/, POST /trades with 100 trades): the per-row broadcast trigger sent 100 messages
-- per request and made the insert about twice as slow; settlement (an UPDATE of every trade of the
-- day) and deleting an account (a cascade over its whole history) sent one message per trade as
-- well. A dashboard wants "N new trades on account A, cashback +X", then reads the rows it shows
-- from the API, as it does for every Realtime message (delivery is at most once).
--
-- Topic and event stay as for every other table (`user:<uuid>`, event `closed_trades`); the payload
-- is a summary instead of a record:
--   {"operation": "INSERT" | "UPDATE" | "DELETE", "table": "closed_trades", "schema": "public",
--    "account_id": <uuid>, "count": <rows>, "tickets": [<ascending>], "lots": <sum>,
--    "cashback_amount": <sum>, "currency": <text>, "settled_on": <date or null>}
-- (INSERT and UPDATE describe the new rows; DELETE the old ones and carries only account_id,
-- count and tickets.)

drop trigger closed_trades_broadcast on public.closed_trades;

-- Statement-level, with transition tables (a trigger with transition tables serves one event, hence
-- three triggers on one function). Security definer, like private.broadcast_to_owner, so the
-- message does not depend on the writer's privileges.
create function private.broadcast_closed_trades() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  r record;
begin
  if tg_op = 'DELETE' then
    for r in
      select o.user_id, o.account_id, count(*) as n, jsonb_agg(o.ticket order by o.ticket) as tickets
      from old_rows o group by o.user_id, o.account_id
    loop
      perform realtime.send(
        jsonb_build_object('operation', tg_op, 'table', tg_table_name, 'schema', tg_table_schema,
                           'account_id', r.account_id, 'count', r.n, 'tickets', r.tickets),
        tg_table_name, 'user:' || r.user_id::text, true);
    end loop;
  else
    for r in
      select n.user_id, n.account_id, count(*) as n, jsonb_agg(n.ticket order by n.ticket) as tickets,
             sum(n.lots) as lots, sum(n.cashback_amount) as cashback, min(n.currency) as currency,
             case when count(distinct n.settled_on) = 1 then min(n.settled_on) end as settled_on
      from new_rows n group by n.user_id, n.account_id
    loop
      perform realtime.send(
        jsonb_build_object('operation', tg_op, 'table', tg_table_name, 'schema', tg_table_schema,
                           'account_id', r.account_id, 'count', r.n, 'tickets', r.tickets, 'lots', r.lots,
                           'cashback_amount', r.cashback, 'currency', r.currency, 'settled_on', r.settled_on),
        tg_table_name, 'user:' || r.user_id::text, true);
    end loop;
  end if;
  return null;
end;
$$;

create trigger closed_trades_broadcast_insert after insert on public.closed_trades
  referencing new table as new_rows for each statement execute function private.broadcast_closed_trades();
create trigger closed_trades_broadcast_update after update on public.closed_trades
  referencing new table as new_rows for each statement execute function private.broadcast_closed_trades();
create trigger closed_trades_broadcast_delete after delete on public.closed_trades
  referencing old table as old_rows for each statement execute function private.broadcast_closed_trades();

revoke execute on all functions in schema private from public;
