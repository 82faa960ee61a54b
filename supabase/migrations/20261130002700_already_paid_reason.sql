-- A new reason a closed trade earns no cashback: 'already_paid', the same real trade (a ticket of a
-- login on a trade server) already accrued for another registration of the real account (issue #13;
-- private.paid_tickets, 20261130002800_paid_tickets.sql). In a file of its own: a value added by
-- `alter type ... add value` cannot be used in the transaction that adds it.
alter type public.cashback_withheld_reason add value 'already_paid';
