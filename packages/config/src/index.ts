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
export { ALERT_TYPE_NAMES, type DetectorConfig, type DetectorConfigInput, detectorSchema, type PolicyRuleConfig } from './detector-schema.js';
export {
  type AggregatorConfig,
  type ClickHouseConfig,
  type CollectorConfig,
  type Config,
  type ConfigInput,
  configSchema,
  type GroupConfig,
  type KafkaConfig,
  type OrganisationConfig,
  type RegistryConfig,
  SERVICE_NAMES,
  type ServiceConfig,
  type SupplierConfig,
  type TopicConfig,
} from './schema.js';
