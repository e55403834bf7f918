// The API description, made from the same zod schemas the routes parse their input
// with, and from each route's declared permission. Served at /api/openapi.json.

import { z } from 'zod';
import type { DeclaredRoute } from './auth.ts';

type JsonSchema = Record<string, unknown>;

function jsonSchema(s: z.ZodType): JsonSchema {
  const j = z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  delete j.$schema;
  return j;
}

function parametersOf(s: z.ZodType | undefined, where: 'path' | 'query'): JsonSchema[] {
  if (!s) return [];
  const j = jsonSchema(s);
  const props = (j.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((j.required as string[] | undefined) ?? []);
  return Object.entries(props).map(([name, schema]) => ({ name, in: where, required: where === 'path' || required.has(name), schema }));
}

const errorBody = {
  type: 'object',
  properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' }, details: { type: 'object' } }, required: ['code', 'message'] } },
};

export function openApiDocument(routes: DeclaredRoute[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of [...routes].sort((a, b) => a.url.localeCompare(b.url) || a.method.localeCompare(b.method))) {
    const path = r.url.replace(/:(\w+)/g, '{$1}');
    const params = parametersOf(r.input.params, 'path');
    // A path parameter without a schema is still a parameter.
    for (const m of r.url.matchAll(/:(\w+)/g)) {
      if (!params.some((p) => p.name === m[1])) params.push({ name: m[1], in: 'path', required: true, schema: { type: 'string' } });
    }
    const op: Record<string, unknown> = {
      operationId: `${r.method.toLowerCase()}${path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`,
      ...(r.summary ? { summary: r.summary } : {}),
      'x-slipway-permission': r.permission,
      security: r.permission === 'public' ? [] : [{ bearerToken: [] }],
      parameters: [...params, ...parametersOf(r.input.query, 'query')],
      responses: {
        default: { description: 'an error', content: { 'application/json': { schema: errorBody } } },
        '2XX': { description: 'done' },
        ...(r.permission === 'public' ? {} : { 401: { description: 'no valid API token' }, 403: { description: `the token lacks the "${r.permission}" permission here` } }),
      },
    };
    if (r.input.body) op.requestBody = { required: true, content: { 'application/json': { schema: jsonSchema(r.input.body) } } };
    (paths[path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'slipway API', version, description: 'Every route but the public ones needs "Authorization: Bearer <token>". x-slipway-permission names what the token\'s role must grant.' },
    components: { securitySchemes: { bearerToken: { type: 'http', scheme: 'bearer' } } },
    paths,
  };
}
