import { createFunctionApp, type EdgeDeps } from '@rubi/edge';
import { registerCashbackReportRoutes } from './cashback-report-routes.ts';
import { registerNotificationRoutes } from './notifications-routes.ts';
import { registerSessionRoutes } from './sessions-routes.ts';
import { registerStatsRoutes } from './stats-routes.ts';
import { registerTradingAccountRoutes } from './trading-accounts-routes.ts';

/**
 * `accounts`: the dashboard's view of the user's trading. Each group of routes lives in its own
 * module and registers itself on the one app: the read side (connector sessions and account info,
 * statistics), the trading accounts a user registers for provisioning and cashback, and the
 * notifications the backend writes about them.
 */
export function createAccountsApp(deps: EdgeDeps) {
  const app = createFunctionApp('accounts', deps);
  registerSessionRoutes(app);
  registerStatsRoutes(app);
  registerTradingAccountRoutes(app);
  registerNotificationRoutes(app);
  registerCashbackReportRoutes(app);
  return app;
}

export type AccountsApp = ReturnType<typeof createAccountsApp>;
