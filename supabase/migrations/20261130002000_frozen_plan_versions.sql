-- A plan version that priced a trade is frozen (follow-up to 20261130001900_rebate_rule_guard.sql):
-- its whole rule set is frozen, so a trade reported late is priced by the rules its version's other
-- trades were priced by. A guard trigger on public.rebate_rules refuses inserting a rule into such a
-- plan, moving one into or out of it, and changing or deleting any of its rules (also one that
-- priced nothing), with SQLSTATE 23001. Renaming the plan, no-op updates and cascaded deletes pass.
--
-- The definitions are those of supabase/schemas/092_rebate_plans.sql.

-- A plan version that priced a trade is frozen: its whole rule set is what priced its trades, and
-- a trade reported late (closed inside the version's period) must be priced as the others were.
-- None of its rules is changed or deleted, not even one that priced nothing (deleting an unused
-- metals rule would let a late metals trade fall to the default rule), none is moved out, and no
-- rule is added to it, neither inserted nor moved in from another plan; new terms are a new
-- version (create --copy-rules copies the rules into the NEW plan, which priced nothing). Counted
-- as the plan guard counts, through closed_trades_rebate_rule_id_idx: a plan that priced nothing
-- costs one probe per rule it has. Named to fire after rebate_rules_guard_used (triggers fire in
-- name order), so a used rule is refused as a used rule. No-op updates pass; cascaded deletes
-- (pg_trigger_depth() > 1) are left to the foreign key, as above. SQLSTATE 23001, as the guards above.
create function private.guard_used_rebate_plan_rules() returns trigger
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
  -- A rule of a used plan changed, moved out or deleted.
  if tg_op <> 'INSERT' then
    select count(*) into n from public.closed_trades t
    where t.rebate_rule_id in (select r.id from public.rebate_rules r where r.plan_id = old.plan_id);
    if n > 0 then
      raise exception 'rebate plan % ("%") priced % trade(s): its rule % cannot be %; add a new plan version instead', old.plan_id,
          (select p.name from public.rebate_plans p where p.id = old.plan_id), n, old.id,
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
  select count(*) into n from public.closed_trades t
  where t.rebate_rule_id in (select r.id from public.rebate_rules r where r.plan_id = new.plan_id);
  if n > 0 then
    raise exception 'rebate plan % ("%") priced % trade(s): it cannot be given a new rule; add a new plan version instead', new.plan_id,
        (select p.name from public.rebate_plans p where p.id = new.plan_id), n
      using errcode = 'restrict_violation',
            hint = 'npm run rebate-plan -- create --broker <name> --name <version> --valid-from <time> --copy-rules, then add the rule there';
  end if;
  return new;
end;
$$;
revoke execute on function private.guard_used_rebate_plan_rules() from public, anon, authenticated, service_role;
create trigger rebate_rules_guard_used_plan before insert or update or delete on public.rebate_rules
  for each row execute function private.guard_used_rebate_plan_rules();
