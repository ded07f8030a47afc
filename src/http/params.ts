/**
 * Request parameters: read from the query string, a form body or a JSON body
 * (the query string wins), validated by ajv against one JSON schema per
 * route, and reported in FastAPI/pydantic-v2's 422 shape so existing clients
 * parse our errors exactly as they parsed the original's.
 */
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';

export type Loc = 'query' | 'body';

export interface ValidationIssue {
  type: string;
  loc: [Loc, ...(string | number)[]];
  msg: string;
  input: unknown;
  ctx?: Record<string, unknown>;
}

export class RequestValidationError extends Error {
  override name = 'RequestValidationError';
  constructor(readonly issues: ValidationIssue[]) {
    super('request validation failed');
  }
}

export interface ParamSchema {
  type: 'object';
  properties: Record<string, PropSchema>;
  required?: readonly string[];
  additionalProperties?: true;
}

export interface StringSchema {
  type: 'string';
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  enum?: readonly string[];
  description?: string;
}

export type PropSchema =
  | { type: 'integer'; minimum?: number; maximum?: number; description?: string; default?: number }
  | StringSchema
  | { type: 'boolean'; description?: string; default?: boolean }
  /** A list: repeated keys (`?scope=a&scope=b`), comma-separated values (`?scope=a,b`), or a JSON array. */
  | { type: 'array'; items: StringSchema; maxItems?: number; description?: string };

const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false });
const compiled = new WeakMap<ParamSchema, ValidateFunction>();

const INT_RE = /^-?\d+$/;
const TRUE = new Set(['true', '1', 'yes', 'on', 't', 'y']);
const FALSE = new Set(['false', '0', 'no', 'off', 'f', 'n']);

/** Last value wins for repeated query keys (as FastAPI does for scalars). */
function scalar(v: unknown): unknown {
  return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v[v.length - 1] : v;
}

/** Every value of a list parameter, comma-separated ones split (non-strings are left for ajv to refuse). */
function list(v: unknown): unknown {
  const values = Array.isArray(v) ? (v as unknown[]) : [v];
  return values.flatMap((x) => (typeof x === 'string' ? x.split(',') : [x]));
}

/** Pydantic's lax coercions: decimal-digit strings to integers, the usual words to booleans. */
function coerce(schema: PropSchema, v: unknown): unknown {
  if (schema.type === 'array') return list(v);
  if (schema.type === 'integer' && typeof v === 'string' && INT_RE.test(v)) {
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : v;
  }
  if (schema.type === 'integer' && typeof v === 'number' && !Number.isSafeInteger(v) && Number.isInteger(v)) return String(v);
  if (schema.type === 'boolean' && typeof v === 'string') {
    const l = v.toLowerCase();
    if (TRUE.has(l)) return true;
    if (FALSE.has(l)) return false;
  }
  return v;
}

function issueFor(
  e: ErrorObject,
  schema: ParamSchema,
  where: Map<string, Loc>,
  raw: Record<string, unknown>,
  values: Record<string, unknown>,
): ValidationIssue {
  const p = e.params as Record<string, unknown>;
  if (e.keyword === 'required') {
    const name = String(p.missingProperty);
    return { type: 'missing', loc: ['query', name], msg: 'Field required', input: null };
  }
  const [name = '', item] = e.instancePath.replace(/^\//, '').split('/');
  const loc: ValidationIssue['loc'] = [where.get(name) ?? 'query', name];
  let input = raw[name];
  let prop = schema.properties[name];
  if (item !== undefined && prop?.type === 'array') {
    // one element of a list: located and shown as that element, as pydantic does
    loc.push(Number(item));
    input = (values[name] as unknown[] | undefined)?.[Number(item)];
    prop = prop.items;
  }
  switch (e.keyword) {
    case 'type':
      if (prop?.type === 'integer') {
        if (typeof input === 'number' && !Number.isInteger(input))
          return { type: 'int_from_float', loc, msg: 'Input should be a valid integer, got a number with a fractional part', input };
        if (typeof input === 'string')
          return { type: 'int_parsing', loc, msg: 'Input should be a valid integer, unable to parse string as an integer', input };
        return { type: 'int_type', loc, msg: 'Input should be a valid integer', input };
      }
      if (prop?.type === 'boolean') {
        return typeof input === 'string'
          ? { type: 'bool_parsing', loc, msg: 'Input should be a valid boolean, unable to interpret input', input }
          : { type: 'bool_type', loc, msg: 'Input should be a valid boolean', input };
      }
      if (prop?.type === 'array') return { type: 'list_type', loc, msg: 'Input should be a valid list', input };
      return { type: 'string_type', loc, msg: 'Input should be a valid string', input };
    case 'minimum':
      return { type: 'greater_than_equal', loc, msg: `Input should be greater than or equal to ${String(p.limit)}`, input, ctx: { ge: p.limit } };
    case 'maximum':
      return { type: 'less_than_equal', loc, msg: `Input should be less than or equal to ${String(p.limit)}`, input, ctx: { le: p.limit } };
    case 'maxLength':
      return { type: 'string_too_long', loc, msg: `String should have at most ${String(p.limit)} characters`, input, ctx: { max_length: p.limit } };
    case 'pattern':
      return { type: 'string_pattern_mismatch', loc, msg: `String should match pattern '${String(p.pattern)}'`, input, ctx: { pattern: p.pattern } };
    case 'maxItems':
      return { type: 'too_long', loc, msg: `List should have at most ${String(p.limit)} items after validation`, input, ctx: { max_length: p.limit } };
    case 'minLength':
      return { type: 'string_too_short', loc, msg: `String should have at least ${String(p.limit)} character${p.limit === 1 ? '' : 's'}`, input, ctx: { min_length: p.limit } };
    case 'enum': {
      const allowed = (p.allowedValues as string[]).map((a) => `'${a}'`);
      const expected = allowed.length > 1 ? `${allowed.slice(0, -1).join(', ')} or ${allowed[allowed.length - 1]}` : (allowed[0] ?? '');
      return { type: 'enum', loc, msg: `Input should be ${expected}`, input, ctx: { expected } };
    }
    default:
      return { type: 'value_error', loc, msg: e.message ?? 'Invalid value', input };
  }
}

/**
 * Gather and validate a route's parameters. Throws RequestValidationError
 * with one issue per problem.
 */
export function readParams<T>(query: Readonly<Record<string, unknown>>, body: unknown, schema: ParamSchema): T {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  if (body !== undefined && body !== null && (typeof body !== 'object' || Array.isArray(body))) {
    throw new RequestValidationError([
      { type: 'model_attributes_type', loc: ['body'], msg: 'Input should be a valid dictionary or object to extract fields from', input: body },
    ]);
  }
  const bodyObj = (body ?? {}) as Record<string, unknown>;
  const raw: Record<string, unknown> = {};
  const values: Record<string, unknown> = {};
  const where = new Map<string, Loc>();
  for (const [name, prop] of Object.entries(schema.properties)) {
    let v: unknown;
    if (query[name] !== undefined) {
      v = prop.type === 'array' ? query[name] : scalar(query[name]);
      where.set(name, 'query');
    } else if (bodyObj[name] !== undefined && bodyObj[name] !== null) {
      v = bodyObj[name];
      where.set(name, 'body');
    } else continue;
    raw[name] = v;
    values[name] = coerce(prop, v);
  }
  if (!validate(values)) {
    throw new RequestValidationError((validate.errors ?? []).map((e) => issueFor(e, schema, where, raw, values)));
  }
  return values as T;
}
