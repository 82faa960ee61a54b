// The agent as a library (tests, the demo, the EA simulator reading the EA config).
export { Agent, heartbeatState, type AgentOptions } from './agent.ts';
export { acquireAgentLock, AgentLockedError, lockHolder, type AgentLock } from './agent-lock.ts';
export { ApiError, VpsApi } from './api.ts';
export { ConfigError, loadConfig, parseConfig, type AgentConfig, type Platform } from './config.ts';
export { EA_CONFIG_FILE, formatEaConfig, parseEaConfig, type EaConfig } from './ea-config.ts';
export { compileEa, formatCompile, type CompileOutcome } from './ea-build.ts';
export { parseCompileLog, type CompileDiagnostic, type CompileLog } from './metaeditor.ts';
export { LAYOUTS, STARTUP_CONFIG, terminalFolder, terminalFolderName } from './layout.ts';
export { createLogger, SecretRegistry, type Logger } from './log.ts';
export { createMetrics, type AgentMetrics } from './metrics.ts';
export { StateStore, STATE_FILE, type StateFile, type TerminalRecord } from './state-store.ts';
export { VERSION } from './version.ts';
