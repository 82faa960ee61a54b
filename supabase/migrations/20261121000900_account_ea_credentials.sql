-- Credentials of a provisioned EA (cashback flow), used by the edge toolkit as service_role to
-- verify a signed request: the account behind an external account id, its owner, and the
-- encrypted api secret issued by `register`. Deleted accounts have no credentials.
create function private.account_ea_credentials(p_external_account_id uuid)
returns table (account_id uuid, user_id uuid, status text, api_secret_ciphertext text, api_secret_key_id text)
language sql stable
security definer
set search_path = ''
as $$
  select a.id, a.user_id, a.status, s.api_secret_ciphertext, s.api_secret_key_id
  from public.trading_accounts a
  join private.account_secrets s on s.account_id = a.id
  where a.external_account_id = p_external_account_id
    and a.deleted_at is null
    and s.api_secret_ciphertext is not null
$$;
grant execute on function private.account_ea_credentials(uuid) to service_role;

-- Nothing in `private` is executable by PUBLIC; the grants above are the only way in.
revoke execute on all functions in schema private from public;
