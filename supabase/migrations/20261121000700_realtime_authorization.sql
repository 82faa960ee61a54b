-- Realtime authorization: a signed-in user may receive broadcasts only on their own private
-- topic `user:<uuid>`. Realtime evaluates this policy when a client joins a private channel,
-- with realtime.topic() set to the topic being joined. Row topic and joined topic must both be
-- the user's, so even a direct read of realtime.messages shows nothing of anyone else.
create policy "users receive their own topic" on realtime.messages
  for select to authenticated
  using (
    extension = 'broadcast'
    and topic = 'user:' || (select auth.uid())::text
    and topic = (select realtime.topic())
  );
