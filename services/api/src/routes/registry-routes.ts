import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { principal } from '../auth/authenticate.js';
import { scopeOf } from '../auth/roles.js';
import type { ApiContext } from '../context.js';
import { errorResponses } from '../errors.js';

const registrySchema = z
  .object({
    suppliers: z.array(z.object({ id: z.string(), name: z.string(), exporters: z.array(z.string()) })),
    organisations: z.array(z.object({ code: z.string(), name: z.string(), type: z.string(), supplier: z.string() })),
    services: z.array(z.object({ id: z.string(), name: z.string() })),
    groups: z.array(z.object({ id: z.string(), name: z.string(), organisations: z.array(z.string()) })),
  })
  .describe('Registry (names for display: no prefixes, tokens or certificates)');

/**
 * Names the page shows beside codes. A supplier sees its own supplier and organisations and the
 * national services; never push-token hashes, certificate fingerprints or address prefixes.
 */
export function registryRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/api/v1/registry',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Suppliers, organisations, services and groups (names)',
        tags: ['registry'],
        response: { 200: registrySchema, ...errorResponses(401, 403, 429, 500) },
      },
    },
    async (req) => {
      const scope = scopeOf(principal(req));
      const reg = ctx.registry();
      const mine = <T>(xs: T[], supplierOf: (x: T) => string | undefined) =>
        scope === undefined ? xs : xs.filter((x) => supplierOf(x) === scope);
      return {
        suppliers: mine(reg.suppliers, (s) => s.id).map((s) => ({ id: s.id, name: s.name, exporters: s.exporters.map((e) => e.id) })),
        organisations: mine(reg.organisations, (o) => o.supplier).map((o) => ({
          code: o.code,
          name: o.name,
          type: o.type,
          supplier: o.supplier,
        })),
        services: reg.services.map((s) => ({ id: s.id, name: s.name })),
        groups: scope === undefined ? reg.groups.map((g) => ({ id: g.id, name: g.name, organisations: g.organisations })) : [],
      };
    },
  );
}
