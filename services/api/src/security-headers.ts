/**
 * Headers on every response of the API and the dashboard. The Content-Security-Policy allows
 * only this origin's own scripts, styles and connections: no inline script or style, no eval, no
 * third-party anything (the dashboard is bundled, nothing comes from a CDN), and no framing.
 * The page sets element styles through the CSSOM (allowed), never through style attributes.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const COMMON: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
};

const WITH_HSTS: Readonly<Record<string, string>> = { ...COMMON, 'strict-transport-security': 'max-age=31536000' };

/** Strict-Transport-Security only over HTTPS (directly or, with api.trustProxy, behind a TLS proxy). */
export function securityHeaders(https: boolean): Readonly<Record<string, string>> {
  return https ? WITH_HSTS : COMMON;
}
