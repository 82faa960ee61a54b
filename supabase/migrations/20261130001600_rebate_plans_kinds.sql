-- Issue #17 (rebate plans), part 1 of 2: the new reasons a closed trade earns no cashback at ingest.
--
-- A value added by `alter type ... add value` cannot be used in the transaction that added it, and
-- every migration runs in a transaction of its own, so this file only adds the values;
-- 20261130001610_rebate_plans.sql uses them.
--   filtered    the account's owner excluded the trade (by magic number or symbol). Final.
--   no_fx_rate  the rule pays in a currency with no rate to the payout currency yet. Accrues once,
--               at the rate then in force, when the operator sets one (private.set_fx_rate).
alter type public.cashback_withheld_reason add value 'filtered';
alter type public.cashback_withheld_reason add value 'no_fx_rate';
