export {
  CONFIG_FILE_ENV,
  ENV_ALIASES,
  ENV_PREFIX,
  envNameToPath,
  formatIssues,
  type LoadOptions,
  type LoadResult,
  loadConfig,
  pathToEnvName,
  schemaAt,
} from './load-config.js';
export {
  type ClickHouseConfig,
  type Config,
  type ConfigInput,
  configSchema,
  type KafkaConfig,
  SERVICE_NAMES,
  type TopicConfig,
} from './schema.js';
