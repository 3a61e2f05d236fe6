import { type RegistryConfig, registrySchema } from '@flowwatch/config';

/**
 * The configured registry with the simulated network's added (for `flowwatch start --demo`): the
 * lists are concatenated and the result validated like any registry, so a supplier id, organisation
 * code or exporter address used by both is reported, not silently shadowed.
 */
export function mergeRegistry(
  base: RegistryConfig,
  simulated: RegistryConfig,
): { ok: true; registry: RegistryConfig } | { ok: false; error: string } {
  const merged = {
    suppliers: [...base.suppliers, ...simulated.suppliers],
    organisations: [...base.organisations, ...simulated.organisations],
    services: [...base.services, ...simulated.services],
    groups: [...base.groups, ...simulated.groups],
  };
  const r = registrySchema.safeParse(merged);
  if (r.success) return { ok: true, registry: r.data };
  const issue = r.error.issues[0];
  return {
    ok: false,
    error: `the simulated registry clashes with the configured one: registry.${issue?.path.join('.')}: ${issue?.message}`,
  };
}
