-- One identity per real trading account (issue #15, items 1, 2 and 4), part 1 of 2: the
-- notification kinds. A value added by `alter type ... add value` cannot be used in the transaction
-- that added it, so 20261130001200_account_identity.sql uses them.
--   account_verified               the owner proved the account is theirs (an order with its code)
--   account_verification_required  a registration left unverified by the migration (two users had
--                                  registered the same real account): its owner must prove it
alter type public.notification_kind add value 'account_verified';
alter type public.notification_kind add value 'account_verification_required';
