// config/: reads and validates slipway.yaml into the ServiceConfig of core/, with
// every problem reported as file:line:col, field path and what is allowed, and
// writes the starting file for `slipway init`.
//
// It must not act on a config (start, route, store), read anything but the file it
// is given, or let an unvalidated value through: everything downstream trusts
// ServiceConfig without checking it again.

export {
  CONFIG_FILE_NAME,
  formatConfigIssue,
  loadConfigFile,
  parseConfigText,
  readConfigText,
  validateConfigText,
} from './load-config.ts';
export type { ConfigIssue, ConfigValidation } from './load-config.ts';
export { CONFIG_DEFAULTS, serviceConfigSchema, validateConfigData } from './schema.ts';
export type { DataValidation } from './schema.ts';
export type { FieldPath, PathIssue } from './path-issue.ts';
export { renderInitConfig } from './init-template.ts';
export type { InitConfigOptions } from './init-template.ts';
export { joinShellWords, quoteShellWord, splitShellWords } from './shell-words.ts';
export type { SplitResult } from './shell-words.ts';
