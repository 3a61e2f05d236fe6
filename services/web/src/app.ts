import type { Route } from './router.js';
import type { Registry, User } from './types.js';

/** What every page gets: who is logged in, what they may do, and names for codes. */
export interface App {
  user: User;
  registry: Registry;
  may: { act: boolean; suppress: boolean; audit: boolean };
  supplierName(id: string): string;
  orgName(code: string): string;
}

/** Renders into `main`; may return a clean-up run when the route changes. */
export type Page = (main: HTMLElement, app: App, route: Route) => (() => void) | undefined;

export function makeApp(user: User, registry: Registry): App {
  const suppliers = new Map(registry.suppliers.map((s) => [s.id, s.name]));
  const orgs = new Map(registry.organisations.map((o) => [o.code, o.name]));
  const centre = user.role !== 'supplier';
  return {
    user,
    registry,
    may: {
      act: user.role === 'analyst' || user.role === 'admin',
      suppress: user.role === 'analyst' || user.role === 'admin',
      audit: centre,
    },
    supplierName: (id) => (id === '' ? 'Internet / other' : (suppliers.get(id) ?? id)),
    orgName: (code) => (code === '' ? 'Internet / other' : (orgs.get(code) ?? code)),
  };
}
