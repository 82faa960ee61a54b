-- The rebate guards (20261130001900_rebate_rule_guard.sql, 20261130002000_frozen_plan_versions.sql)
-- stop counting. Each counted the trades a rule or plan priced only to write "N trade(s)" in its
-- message; an existence test (one probe of closed_trades_rebate_rule_id_idx per rule until one hits)
-- decides the same, and the messages say "priced trades" (still SQLSTATE 23001, the same hints).
-- And one guard decides for a rule: rebate_rules_guard_used (a rule that priced a trade) is covered
-- by the frozen-version guard (its plan is used, so frozen), which now checks the rule itself first
-- and keeps its message (naming the rule); the other rules of a used version get the frozen-version
-- message, as before.
--
-- The definitions are those of supabase/schemas/092_rebate_plans.sql.

drop trigger rebate_rules_guard_used on public.rebate_rules;
drop function private.guard_used_rebate_rule();

create or replace function private.guard_used_rebate_plan() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'UPDATE' and new.id = old.id and new.broker_id = old.broker_id
     and new.account_id is not distinct from old.account_id and new.valid_from = old.valid_from then
    return new;
  end if;
  if tg_op = 'DELETE' and pg_trigger_depth() > 1 then
    return old;
  end if;
  if exists (select 1 from public.rebate_rules r
             where r.plan_id = old.id and exists (select 1 from public.closed_trades t where t.rebate_rule_id = r.id)) then
    raise exception 'rebate plan % ("%") priced trades: it cannot be %; add a new plan version instead', old.id, old.name,
        case tg_op when 'DELETE' then 'deleted' else 'moved (valid_from, broker, account)' end
      using errcode = 'restrict_violation',
            hint = 'npm run rebate-plan -- create --broker <name> --name <version> --valid-from <time> --copy-rules';
  end if;
  return case tg_op when 'DELETE' then old else new end;
end;
$$;

create or replace function private.guard_used_rebate_plan_rules() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'UPDATE' and new is not distinct from old then
    return new;
  end if;
  if tg_op = 'DELETE' and pg_trigger_depth() > 1 then
    return old;
  end if;
  -- A rule changed, moved out or deleted: one that priced a trade, or any rule of a used plan.
  if tg_op <> 'INSERT' then
    if exists (select 1 from public.closed_trades t where t.rebate_rule_id = old.id) then
      raise exception 'rebate rule % priced trades: it cannot be %; add a new plan version instead', old.id,
          case tg_op when 'DELETE' then 'deleted' else 'changed' end
        using errcode = 'restrict_violation',
              hint = 'npm run rebate-plan -- create --broker <name> --name <version> --valid-from <time> --copy-rules, then add or change rules there';
    end if;
    if exists (select 1 from public.rebate_rules r
               where r.plan_id = old.plan_id and exists (select 1 from public.closed_trades t where t.rebate_rule_id = r.id)) then
      raise exception 'rebate plan % ("%") priced trades: its rule % cannot be %; add a new plan version instead', old.plan_id,
          (select p.name from public.rebate_plans p where p.id = old.plan_id), old.id,
          case tg_op when 'DELETE' then 'deleted' else 'changed' end
        using errcode = 'restrict_violation',
              hint = 'npm run rebate-plan -- create --broker <name> --name <version> --valid-from <time> --copy-rules, then change the rules there';
    end if;
    if tg_op = 'DELETE' then
      return old;
    end if;
    if new.plan_id = old.plan_id then
      return new;
    end if;
  end if;
  -- A rule inserted into a used plan, or moved into it.
  if exists (select 1 from public.rebate_rules r
             where r.plan_id = new.plan_id and exists (select 1 from public.closed_trades t where t.rebate_rule_id = r.id)) then
    raise exception 'rebate plan % ("%") priced trades: it cannot be given a new rule; add a new plan version instead', new.plan_id,
        (select p.name from public.rebate_plans p where p.id = new.plan_id)
      using errcode = 'restrict_violation',
            hint = 'npm run rebate-plan -- create --broker <name> --name <version> --valid-from <time> --copy-rules, then add the rule there';
  end if;
  return new;
end;
$$;
