export { ConnectorEa, type ConnectorCounters, type ConnectorEaOptions, type ConnectorEvent } from './connector-ea.ts';
export { commentHasTag, connectorTag, ConnectorJournal, type JournalRecord, type JournalState } from './connector-journal.ts';
export { FlakyNetwork, matching, type RequestMatch } from './flaky-network.ts';
export { PriceFeed, roundToTick, seededRandom, STANDARD_SYMBOLS, wallClock, type Clock, type FeedSymbol, type Quote } from './price-feed.ts';
export {
  OWNERSHIP_CODE,
  ownershipCodesIn,
  ProvisionedEa,
  type BrokerLink,
  type FlushResult,
  type OrderCommentSource,
  type ProvisionedEaOptions,
  type ProvisionedEvent,
  type ProvisionedIdentity,
  type TerminalReport,
} from './provisioned-ea.ts';
export {
  backoffMs,
  EaHttpError,
  requestJson,
  SignedHttp,
  type EaSigner,
  type FetchLike,
  type HttpEvent,
  type HttpOptions,
  type RetryOptions,
} from './signed-http.ts';
export {
  RETCODE,
  SimulatedAccount,
  type OrderRequest,
  type OrderResult,
  type PendingOrderRequest,
  type PendingType,
  type Side,
  type SimDeal,
  type SimOrder,
  type SimPosition,
  type SimulatedAccountOptions,
} from './simulated-account.ts';
export {
  appendEaLog,
  decodeTerminalText,
  EA_CONFIG_FILE,
  parseEaConfigFile,
  readEaConfigFile,
  readKeyValues,
  readTerminalFolder,
  type EaConfigFile,
  type TerminalIdentity,
} from './terminal-files.ts';
export { describeConnectorEvent, describeHttpEvent, describeProvisionedEvent } from './describe.ts';
