-- private.account_heard_from was the trades endpoint's "the EA is alive" step. Since
-- 20261130000500 the endpoint is one call to private.ingest_trades, which does the same through
-- private.touch_account after the gate proved who is calling; nothing calls account_heard_from any
-- more, and two copies of the rule (last_seen_at, a silent account back to connected unless
-- paused) would drift. touch_account is the one place now.
drop function private.account_heard_from(uuid);
