-- Demo data for a fresh local database: a few brokers so a new user has something to pick.
insert into public.brokers (name, platforms, rebate_per_lot, currency) values
  ('IC Markets', array['MT4', 'MT5'], 3.50, 'USD'),
  ('Pepperstone', array['MT4', 'MT5'], 3.00, 'USD'),
  ('Exness', array['MT4', 'MT5'], 2.50, 'USD'),
  ('RoboForex', array['MT4', 'MT5'], 4.00, 'USD'),
  ('Admirals', array['MT5'], 2.00, 'EUR')
on conflict (name) do nothing;
