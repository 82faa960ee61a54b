export { createFunctionApp, issuesToDetails, REQUEST_ID_HEADER } from './app.ts';
export {
  requireAccountEa,
  requireEaKey,
  requireOperator,
  requireUser,
  requireUserOrEaKey,
  requireVpsHost,
  type EaScope,
} from './auth-middleware.ts';
export { createUserTokenVerifier, InvalidTokenError, type UserClaims, type UserTokenVerifier } from './auth-user.ts';
export { ConfigError, loadEdgeConfig, type EdgeConfig } from './config.ts';
export { CURSOR_TIMESTAMP_SQL, CursorTimestamp, decodeCursor, encodeCursor } from './cursor.ts';
export { callAsEa, iso, isoRequired, one, withDb } from './db.ts';
export { createEdgeDeps, DB_REQUEST_TIMEOUT_MS, type EdgeDeps, type EdgeDepsOverrides } from './deps.ts';
export { installProcessGuard, isDriverSocketCrash } from './process-guard.ts';
export type { Actor, Admission, EdgeEnv } from './env.ts';
export { CredentialCache, CREDENTIAL_CACHE_MAX_ENTRIES, CREDENTIAL_CACHE_TTL_MS, type EaCredential } from './ea-credentials.ts';
export { ApiError, apiErrorFromDatabase, badRequest, conflict, forbidden, notFound, rateLimited, unauthorized } from './errors.ts';
export { DOORBELL_TOPIC, mintHostRealtimeToken, REALTIME_TOKEN_TTL_SECONDS } from './realtime-token.ts';
export { clientIp, limit, perIp, takeRateLimits, type RateLimitBucket, type RateLimitDecision, type RateLimitKind } from './rate-limit.ts';
export { BACKEND_VERSION, checkHealth, HEALTH_DB_TIMEOUT_MS } from './health.ts';
export { createLogger, redact, type Logger, type LogLevel, type LogSink } from './log.ts';
export { noteRequest, warnRequest, PRINCIPAL_KINDS, requestLogLine, routePattern, type PrincipalKind, type RequestLogFields } from './request-log.ts';
