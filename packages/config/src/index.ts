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
  type CollectorConfig,
  type Config,
  type ConfigInput,
  configSchema,
  type KafkaConfig,
  type RegistryConfig,
  SERVICE_NAMES,
  type SupplierConfig,
  type TopicConfig,
} from './schema.js';
