export {
  ALERT_STATUSES,
  ALERT_TYPES,
  ALERTS_SCHEMA,
  type Alert,
  type AlertInput,
  type AlertMessage,
  inputToRow,
  SEVERITIES,
} from './alerts/alert-record.js';
export { type Api, type ApiDeps, createApi } from './api.js';
export { buildApiApp, type RequestHandler } from './app.js';
export { AuditLog } from './audit-log.js';
export { ROLES, type Role } from './auth/roles.js';
export { checkNewToken, type TokenRecord, TokenStore } from './auth/tokens.js';
export { ERROR_CODES } from './errors.js';
export { DEFAULT_WEB_ROOT, loadWebAssets } from './web-assets.js';
