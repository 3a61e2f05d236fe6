export {
  DEPLOY_DIR,
  dockerEngineAnswers,
  dockerRunArgs,
  LocalKafka,
  type LocalKafkaOptions,
  pinnedKafkaVersion,
  portOpen,
} from './local-kafka.js';
