/**
 * Roles and what each may do. A token has exactly one role; a supplier token also names its
 * supplier, and every query it makes is limited to that supplier (alerts naming it, flows its
 * exporters reported) by the stores, not by the page.
 */
export const ROLES = ['viewer', 'analyst', 'admin', 'supplier'] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = {
  /** Alerts, traffic, flows, exporters, the live stream, the registry (a supplier: its own part). */
  read: ['viewer', 'analyst', 'admin', 'supplier'],
  /** Acknowledge, resolve, comment. */
  'alerts:act': ['analyst', 'admin'],
  'suppressions:read': ['viewer', 'analyst', 'admin'],
  'suppressions:write': ['analyst', 'admin'],
  'audit:read': ['viewer', 'analyst', 'admin'],
  'tokens:manage': ['admin'],
} as const satisfies Record<string, readonly Role[]>;
export type Permission = keyof typeof PERMISSIONS;

/** Who is asking: from a bearer token or from a dashboard session (which is bound to a token). */
export interface Principal {
  tokenId: string;
  /** The token's name: the actor in the audit log and in alert events. */
  name: string;
  role: Role;
  /** Set for (and only for) the supplier role: the one supplier this principal may see. */
  supplierId: string | undefined;
  via: 'token' | 'session';
}

export function can(principal: Principal, permission: Permission): boolean {
  return (PERMISSIONS[permission] as readonly Role[]).includes(principal.role);
}

/** The supplier a principal is limited to, or undefined for the operations centre's roles. */
export function scopeOf(principal: Principal): string | undefined {
  return principal.role === 'supplier' ? principal.supplierId : undefined;
}
