import type { EdgeDeps } from '@rubi/edge';
import { createAccountsApp } from '../../../functions/accounts/app.ts';
import { createConnectApp } from '../../../functions/connect/app.ts';
import { createKeysApp } from '../../../functions/keys/app.ts';
import { createOpsApp } from '../../../functions/ops/app.ts';
import { createPingApp } from '../../../functions/ping/app.ts';
import { createPositionsApp } from '../../../functions/positions/app.ts';
import { createRegisterApp } from '../../../functions/register/app.ts';
import { createSignalsApp } from '../../../functions/signals/app.ts';
import { createTradesApp } from '../../../functions/trades/app.ts';
import { createVpsApp } from '../../../functions/vps/app.ts';

/** Every Edge Function, imported unchanged from functions/ (the same apps the Edge Runtime serves). */
export interface FunctionApp {
  fetch(request: Request): Response | Promise<Response>;
}
export const FUNCTIONS: Record<string, (deps: EdgeDeps) => FunctionApp> = {
  keys: createKeysApp,
  connect: createConnectApp,
  ping: createPingApp,
  signals: createSignalsApp,
  positions: createPositionsApp,
  accounts: createAccountsApp,
  vps: createVpsApp,
  register: createRegisterApp,
  trades: createTradesApp,
  ops: createOpsApp,
};
