-- Issue #15 item 6, part 1 of 2: the notification kind for a password the broker refused.
--
-- A value added by `alter type ... add value` cannot be used in the transaction that added it, and
-- every migration runs in a transaction of its own, so this file only adds the value;
-- 20261130001300_failed_credentials.sql uses it.
alter type public.notification_kind add value 'account_credentials_rejected';
