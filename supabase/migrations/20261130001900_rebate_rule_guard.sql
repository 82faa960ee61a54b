-- Issue #17's gap: a rebate rule (or plan) that priced a trade can be neither deleted nor changed in
-- place; terms change by a new plan version. Guard triggers on public.rebate_rules and
-- public.rebate_plans (the foreign key closed_trades_rebate_rule_id_fkey stays as the backstop).
--
-- The definitions are those of supabase/schemas/092_rebate_plans.sql.

-- A rule that priced a trade, and the plan it belongs to, are part of the money's audit trail
-- (closed_trades.rebate_rule_id, rebate_amount): terms change by a new plan version with a later
-- valid_from, never by editing or deleting what priced a trade. The foreign key
-- closed_trades_rebate_rule_id_fkey already refuses deleting a rule a trade names; these guards
-- refuse it first with a message an operator can act on, and refuse what the key cannot see:
-- changing such a rule in place (its price would disagree with the figures it recorded), and moving
-- such a plan (valid_from, broker, account: it would no longer be the version in force for its
-- trades). A plan's name may change; unused rules and plans may change or go. Deletes cascaded from
-- another table (an account or user removed with its trades: pg_trigger_depth() > 1) are left to
-- the foreign key, checked once the cascade is done. SQLSTATE 23001 (restrict_violation), what
-- on delete restrict raises.
create function private.guard_used_rebate_rule() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  n bigint;
begin
  if tg_op = 'UPDATE' and new is not distinct from old then
    return new;
  end if;
  if tg_op = 'DELETE' and pg_trigger_depth() > 1 then
    return old;
  end if;
  select count(*) into n from public.closed_trades t where t.rebate_rule_id = old.id;
  if n > 0 then
    raise exception 'rebate rule % priced % trade(s): it cannot be %; add a new plan version instead', old.id, n,
        case tg_op when 'DELETE' then 'deleted' else 'changed' end
      using errcode = 'restrict_violation',
            hint = 'npm run rebate-plan -- create --broker <name> --name <version> --valid-from <time> --copy-rules, then add or change rules there';
  end if;
  return case tg_op when 'DELETE' then old else new end;
end;
$$;
revoke execute on function private.guard_used_rebate_rule() from public, anon, authenticated, service_role;
create trigger rebate_rules_guard_used before update or delete on public.rebate_rules
  for each row execute function private.guard_used_rebate_rule();

create function private.guard_used_rebate_plan() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  n bigint;
begin
  if tg_op = 'UPDATE' and new.id = old.id and new.broker_id = old.broker_id
     and new.account_id is not distinct from old.account_id and new.valid_from = old.valid_from then
    return new;
  end if;
  if tg_op = 'DELETE' and pg_trigger_depth() > 1 then
    return old;
  end if;
  select count(*) into n from public.closed_trades t
  where t.rebate_rule_id in (select r.id from public.rebate_rules r where r.plan_id = old.id);
  if n > 0 then
    raise exception 'rebate plan % ("%") priced % trade(s): it cannot be %; add a new plan version instead', old.id, old.name, n,
        case tg_op when 'DELETE' then 'deleted' else 'moved (valid_from, broker, account)' end
      using errcode = 'restrict_violation',
            hint = 'npm run rebate-plan -- create --broker <name> --name <version> --valid-from <time> --copy-rules';
  end if;
  return case tg_op when 'DELETE' then old else new end;
end;
$$;
revoke execute on function private.guard_used_rebate_plan() from public, anon, authenticated, service_role;
create trigger rebate_plans_guard_used before update or delete on public.rebate_plans
  for each row execute function private.guard_used_rebate_plan();
