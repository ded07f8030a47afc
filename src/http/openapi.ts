/**
 * The OpenAPI 3.1 description of the HTTP API (GET /openapi.json, rendered by
 * Swagger UI at /docs), derived from the route table (routes.ts): its paths,
 * methods, public/admin marks and parameter schemas — the very objects ajv
 * validates requests with — and the answers' shapes of responses.ts, the
 * schemas present.ts's return types come from. Nothing here can drift from
 * the code; the tests check real answers against it and every route of the
 * table against `paths`.
 *
 * The document is public (no API key): it describes a contract that holds no
 * data, the same for every deployment, and /docs must be able to load it
 * before anyone has typed a key.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ParamSchema } from './params';
import { componentResponses, componentSchemas, resp } from './responses';
import { ROUTE_TABLE, isPublic, type Route } from './routes';

type Json = Record<string, unknown>;

export interface OpenApiOptions {
  /** /metrics needs no key (TELEGATE_METRICS_PUBLIC). */
  metricsPublic: boolean;
}

function parameters(schema: ParamSchema): Json[] {
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties).map(([name, prop]) => ({
    name,
    in: 'query',
    required: required.has(name),
    ...(prop.description === undefined ? {} : { description: prop.description }),
    schema: prop,
  }));
}

function operation(r: Route, opts: OpenApiOptions): Json {
  const open = isPublic(r, opts.metricsPublic);
  const method = r.method.toLowerCase();
  const responses: Record<string, Json> = { '200': r.ok, ...r.responses };
  if (r.params && Object.keys(r.params.properties).length > 0) responses['422'] = resp('ValidationError');
  if (!open) {
    responses['401'] = resp('Unauthorized');
    responses['403'] = resp('Forbidden');
    responses['429'] = resp('TooManyRequests');
  }
  if (method === 'post') responses['413'] = resp('PayloadTooLarge');
  if (r.store && !responses['503']) responses['503'] = resp('StoreUnavailable');
  if (!responses['500']) responses['500'] = resp('InternalError');
  // A route public by configuration (/metrics) says which it is in this deployment.
  const byConfig = r.public === 'metricsPublic' ? (open ? 'Public (TELEGATE_METRICS_PUBLIC is on).' : 'Needs an API key unless TELEGATE_METRICS_PUBLIC is on.') : undefined;
  const description = [r.description, byConfig].filter((x) => x !== undefined).join(' ');
  const out: Json = {
    operationId: r.operationId,
    tags: [r.tag],
    summary: r.summary,
    ...(description === '' ? {} : { description }),
    ...(open ? { security: [] } : {}),
    ...(r.admin ? { 'x-admin-only': true } : {}),
  };
  if (r.params) {
    out.parameters = parameters(r.params);
    if (method === 'post') {
      out.requestBody = {
        required: false,
        description: 'The same parameters may be sent as a JSON or form body instead of the query string (the query string wins).',
        content: { 'application/json': { schema: r.params }, 'application/x-www-form-urlencoded': { schema: r.params } },
      };
    }
  }
  out.responses = Object.fromEntries(Object.entries(responses).sort(([a], [b]) => a.localeCompare(b)));
  return out;
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(path.resolve(__dirname, '..', '..', 'package.json'), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** The OpenAPI 3.1 document of this deployment's API. */
export function buildOpenApi(opts: OpenApiOptions): Json {
  const paths: Record<string, Json> = {};
  for (const r of ROUTE_TABLE) paths[r.path] = { ...paths[r.path], [r.method.toLowerCase()]: operation(r, opts) };
  return {
    openapi: '3.1.0',
    info: {
      title: 'TeleGate',
      version: packageVersion(),
      summary: 'Leases Telegram .session files to workers, one worker per session at a time',
      description:
        'Every endpoint needs the X-API-Key header unless marked otherwise. Parameters are accepted from the query string, a form body or a JSON body (the query string wins). ' +
        'An unknown route answers 404 {"detail": "Not Found"}, a known route with the wrong method 405 {"detail": "Method Not Allowed"}. Every answer is JSON except /metrics, /docs and /ui.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    tags: [
      { name: 'workers', description: 'What a worker calls' },
      { name: 'operators', description: 'Operator endpoints (admin keys when configured)' },
      { name: 'service', description: 'Probes, metrics and documentation' },
    ],
    security: [{ ApiKeyAuth: [] }],
    paths,
    components: {
      securitySchemes: { ApiKeyAuth: { type: 'apiKey', in: 'header', name: 'X-API-Key' } },
      schemas: componentSchemas,
      responses: componentResponses,
    },
  };
}
