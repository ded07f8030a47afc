/**
 * A minimal kustomize renderer for the deploy tests, so CI needs no kustomize
 * or kubectl binary. It implements exactly the features k8s/ uses, the way
 * kustomize v5 does them, and throws on anything else rather than guess:
 *
 * - `resources`: YAML files (multi-document) and directories holding a
 *   kustomization.yaml (rendered recursively);
 * - `configMapGenerator` (literals) and `secretGenerator` (files), with
 *   `behavior: create|merge|replace`, kustomize's content-hash name suffix, and
 *   the rewrite of references to generated names inside pod templates;
 * - `patches` with `path:` holding one strategic-merge patch per document
 *   (`$patch: delete` on objects and list items, `null` deletes a field, lists
 *   merged by key for the fields below, other lists replaced);
 * - `namespace`, `labels` (metadata only: no selectors, no templates), `images`.
 *
 * When kubectl (with kustomize v5) is on the machine, k8s.test.ts also renders
 * with it and checks that both agree, so this file cannot silently drift.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export interface K8sObject extends JsonObject {
  apiVersion: string;
  kind: string;
  metadata: JsonObject & { name: string };
}

interface Res {
  obj: K8sObject;
  /** Name before any hash suffix: what references and patches use. */
  origName: string;
  /** Generated ConfigMap/Secret: gets the hash suffix at the end. */
  generated: boolean;
}

const SUPPORTED_KEYS = new Set([
  'apiVersion',
  'kind',
  'resources',
  'namespace',
  'labels',
  'images',
  'patches',
  'configMapGenerator',
  'secretGenerator',
]);

/** Kinds we may meet that have no namespace. */
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'PersistentVolume', 'StorageClass', 'PriorityClass']);

/** Strategic-merge keys of the lists this renderer merges (from the Kubernetes API types). */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  volumes: 'name',
  env: 'name',
  volumeMounts: 'mountPath',
};

export function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function clone<T extends Json>(v: T): T {
  return structuredClone(v);
}

export function parseYamlDocs(text: string, file: string): JsonObject[] {
  const out: JsonObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const v = doc.toJS() as Json;
    if (v === null || v === undefined) continue;
    if (!isObject(v)) throw new Error(`${file}: a document is not a mapping`);
    out.push(v);
  }
  return out;
}

function asK8s(v: JsonObject, file: string): K8sObject {
  const md = v.metadata;
  if (typeof v.apiVersion !== 'string' || typeof v.kind !== 'string' || !isObject(md) || typeof md.name !== 'string') {
    throw new Error(`${file}: object without apiVersion/kind/metadata.name`);
  }
  return v as K8sObject;
}

function strings(v: Json | undefined, what: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x): x is string => typeof x === 'string')) throw new Error(`${what} must be a list of strings`);
  return v;
}

function objects(v: Json | undefined, what: string): JsonObject[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every(isObject)) throw new Error(`${what} must be a list of mappings`);
  return v;
}

function onlyKeys(o: JsonObject, allowed: string[], what: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw new Error(`${what}: "${k}" is not supported by the test renderer`);
}

// ------------------------------------------------------------------ hashing

/** Go's json.Marshal of a map: sorted keys, HTML-safe escapes. */
function goJson(v: Json): string {
  if (isObject(v)) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${goJson(k)}:${goJson(v[k] ?? null)}`)
      .join(',')}}`;
  }
  if (Array.isArray(v)) return `[${v.map(goJson).join(',')}]`;
  return JSON.stringify(v)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/**
 * kustomize's name-suffix hash (api/hasher): sha256 of a Go-JSON encoding of
 * kind, name, data (and type for a Secret), first 10 hex digits with 0,1,3,a,e
 * replaced. kustomize v5 encodes the name as "" (it hashes the generated
 * object before naming it): checked against kubectl 1.32 / kustomize v5.5.
 */
export function kustomizeHash(obj: K8sObject): string {
  const enc: JsonObject = { kind: obj.kind, name: '', data: obj.data ?? '' };
  if (obj.kind === 'Secret') enc.type = obj.type ?? '';
  if (obj.kind === 'ConfigMap' && isObject(obj.binaryData)) enc.binaryData = obj.binaryData;
  const hex = createHash('sha256').update(goJson(enc)).digest('hex');
  const subst: Record<string, string> = { '0': 'g', '1': 'h', '3': 'k', a: 'm', e: 't' };
  return [...hex.slice(0, 10)].map((c) => subst[c] ?? c).join('');
}

// ------------------------------------------------------------ generators

function generate(kind: 'ConfigMap' | 'Secret', spec: JsonObject, dir: string): { obj: K8sObject; behavior: string } {
  onlyKeys(spec, ['name', 'behavior', 'literals', 'files', 'type'], `${kind} generator`);
  const name = spec.name;
  if (typeof name !== 'string') throw new Error(`${kind} generator without a name`);
  const behavior = typeof spec.behavior === 'string' ? spec.behavior : 'create';
  const data: JsonObject = {};
  for (const lit of strings(spec.literals, `${name}.literals`)) {
    const i = lit.indexOf('=');
    if (i <= 0) throw new Error(`${name}: literal "${lit}" is not KEY=VALUE`);
    const value = lit.slice(i + 1);
    data[lit.slice(0, i)] = kind === 'Secret' ? Buffer.from(value).toString('base64') : value;
  }
  for (const f of strings(spec.files, `${name}.files`)) {
    const [key, rel] = f.includes('=') ? [f.slice(0, f.indexOf('=')), f.slice(f.indexOf('=') + 1)] : [path.basename(f), f];
    const file = path.resolve(dir, rel);
    if (!existsSync(file)) throw new Error(`${name}: file ${rel} not found in ${dir}`);
    const content = readFileSync(file);
    data[key] = kind === 'Secret' ? content.toString('base64') : content.toString('utf8');
  }
  const obj: K8sObject = { apiVersion: 'v1', kind, metadata: { name }, data };
  if (kind === 'Secret') obj.type = typeof spec.type === 'string' ? spec.type : 'Opaque';
  return { obj, behavior };
}

// ------------------------------------------------------- strategic merge

const DELETE = Symbol('delete');

function mergeList(base: Json[], patch: Json[], key: string): Json[] {
  const keyOf = (x: Json): Json | undefined => (isObject(x) ? x[key] : undefined);
  const used = new Set<number>();
  const out: Json[] = [];
  // kustomize (kyaml) puts the patch's items first, then the untouched originals.
  for (const p of patch) {
    const k = keyOf(p);
    const i = base.findIndex((b, idx) => !used.has(idx) && k !== undefined && keyOf(b) === k);
    if (i >= 0) used.add(i);
    const merged = i >= 0 ? strategicMerge(base[i] ?? null, p) : strategicMerge(null, p);
    if (merged !== DELETE) out.push(merged);
  }
  base.forEach((b, idx) => {
    if (!used.has(idx)) out.push(b);
  });
  return out;
}

function strategicMerge(base: Json, patch: Json): Json | typeof DELETE {
  if (!isObject(patch)) return clone(patch);
  if (patch.$patch === 'delete') return DELETE;
  if (patch.$patch !== undefined) throw new Error(`$patch: ${JSON.stringify(patch.$patch)} is not supported by the test renderer`);
  const out: JsonObject = isObject(base) ? clone(base) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$')) throw new Error(`${k} is not supported by the test renderer`);
    const cur = out[k];
    if (v === null) {
      delete out[k];
    } else if (isObject(v)) {
      const m = strategicMerge(cur ?? null, v);
      if (m === DELETE) delete out[k];
      else out[k] = m;
    } else if (Array.isArray(v) && Array.isArray(cur) && MERGE_KEYS[k] !== undefined) {
      out[k] = mergeList(cur, v, MERGE_KEYS[k]);
    } else {
      // Lists without a merge key (args, egress, ports of a policy…) are replaced, as in Kubernetes.
      out[k] = clone(v);
    }
  }
  return out;
}

// ------------------------------------------------------------ transforms

function podSpecs(obj: K8sObject): JsonObject[] {
  const spec = obj.spec;
  if (!isObject(spec)) return [];
  if (obj.kind === 'Pod') return [spec];
  const tpl = spec.template;
  if (isObject(tpl) && isObject(tpl.spec)) return [tpl.spec];
  return [];
}

function containersOf(pod: JsonObject): JsonObject[] {
  return [...objects(pod.initContainers, 'initContainers'), ...objects(pod.containers, 'containers')];
}

function setImages(objs: Res[], images: JsonObject[]): void {
  for (const img of images) onlyKeys(img, ['name', 'newName', 'newTag', 'digest'], 'images[]');
  for (const { obj } of objs) {
    for (const c of podSpecs(obj).flatMap(containersOf)) {
      if (typeof c.image !== 'string') continue;
      const m = /^([^@:]+(?::\d+\/[^@:]+)?)(?::([^@]+))?(?:@(.+))?$/.exec(c.image);
      if (m === null) throw new Error(`cannot parse image ${c.image}`);
      const [, name, tag, digest] = m;
      const rule = images.find((i) => i.name === name);
      if (rule === undefined) continue;
      const newName = typeof rule.newName === 'string' ? rule.newName : (name ?? '');
      if (typeof rule.digest === 'string') c.image = `${newName}@${rule.digest}`;
      else if (typeof rule.newTag === 'string') c.image = `${newName}:${rule.newTag}`;
      else c.image = `${newName}${tag !== undefined ? `:${tag}` : ''}${digest !== undefined ? `@${digest}` : ''}`;
    }
  }
}

/** Points references at generated objects to their final (hashed) names. */
function fixReferences(objs: Res[]): void {
  const renamed = new Map<string, string>();
  for (const r of objs) if (r.generated) renamed.set(`${r.obj.kind}/${r.origName}`, r.obj.metadata.name);
  const rename = (holder: Json | undefined, field: string, kind: string): void => {
    if (!isObject(holder) || typeof holder[field] !== 'string') return;
    const to = renamed.get(`${kind}/${holder[field]}`);
    if (to !== undefined) holder[field] = to;
  };
  for (const { obj } of objs) {
    for (const pod of podSpecs(obj)) {
      for (const v of objects(pod.volumes, 'volumes')) {
        rename(v.secret, 'secretName', 'Secret');
        rename(v.configMap, 'name', 'ConfigMap');
        if (isObject(v.projected)) {
          for (const s of objects(v.projected.sources, 'projected.sources')) {
            rename(s.secret, 'name', 'Secret');
            rename(s.configMap, 'name', 'ConfigMap');
          }
        }
      }
      for (const c of containersOf(pod)) {
        for (const e of objects(c.envFrom, 'envFrom')) {
          rename(e.configMapRef, 'name', 'ConfigMap');
          rename(e.secretRef, 'name', 'Secret');
        }
        for (const e of objects(c.env, 'env')) {
          if (!isObject(e.valueFrom)) continue;
          rename(e.valueFrom.configMapKeyRef, 'name', 'ConfigMap');
          rename(e.valueFrom.secretKeyRef, 'name', 'Secret');
        }
      }
    }
  }
}

// ---------------------------------------------------------------- build

function loadKustomization(dir: string): JsonObject {
  const file = path.join(dir, 'kustomization.yaml');
  const docs = parseYamlDocs(readFileSync(file, 'utf8'), file);
  const k = docs[0];
  if (docs.length !== 1 || k === undefined) throw new Error(`${file}: expected one document`);
  for (const key of Object.keys(k)) {
    if (!SUPPORTED_KEYS.has(key)) throw new Error(`${file}: "${key}" is not supported by the test renderer`);
  }
  return k;
}

function build(dir: string): Res[] {
  const k = loadKustomization(dir);
  const res: Res[] = [];
  const find = (kind: string, name: string): number => res.findIndex((r) => r.obj.kind === kind && r.origName === name);

  for (const entry of strings(k.resources, 'resources')) {
    const p = path.resolve(dir, entry);
    if (statSync(p).isDirectory()) {
      res.push(...build(p));
    } else {
      for (const doc of parseYamlDocs(readFileSync(p, 'utf8'), p)) {
        const obj = asK8s(doc, p);
        res.push({ obj, origName: obj.metadata.name, generated: false });
      }
    }
  }
  for (const r of res) {
    const dup = res.filter((x) => x.obj.kind === r.obj.kind && x.origName === r.origName);
    if (dup.length > 1) throw new Error(`${dir}: ${r.obj.kind}/${r.origName} defined twice`);
  }

  const gens: ['ConfigMap' | 'Secret', JsonObject][] = [
    ...objects(k.configMapGenerator, 'configMapGenerator').map((g): ['ConfigMap', JsonObject] => ['ConfigMap', g]),
    ...objects(k.secretGenerator, 'secretGenerator').map((g): ['Secret', JsonObject] => ['Secret', g]),
  ];
  for (const [kind, spec] of gens) {
    const { obj, behavior } = generate(kind, spec, dir);
    const i = find(kind, obj.metadata.name);
    if (behavior === 'create') {
      if (i >= 0) throw new Error(`${dir}: ${kind}/${obj.metadata.name} already exists (use behavior: merge)`);
      res.push({ obj, origName: obj.metadata.name, generated: true });
      continue;
    }
    const existing = res[i];
    if (existing === undefined) throw new Error(`${dir}: behavior ${behavior} but no ${kind}/${obj.metadata.name} to ${behavior}`);
    if (behavior === 'merge') {
      existing.obj.data = { ...(isObject(existing.obj.data) ? existing.obj.data : {}), ...(isObject(obj.data) ? obj.data : {}) };
    } else if (behavior === 'replace') {
      existing.obj.data = obj.data ?? {};
    } else {
      throw new Error(`${dir}: unknown generator behavior ${behavior}`);
    }
  }

  for (const patch of objects(k.patches, 'patches')) {
    onlyKeys(patch, ['path'], 'patches[]');
    if (typeof patch.path !== 'string') throw new Error(`${dir}: patches[] needs a path`);
    const file = path.resolve(dir, patch.path);
    for (const doc of parseYamlDocs(readFileSync(file, 'utf8'), file)) {
      const p = asK8s(doc, file);
      const i = find(p.kind, p.metadata.name);
      const target = res[i];
      if (target === undefined) throw new Error(`${file}: no ${p.kind}/${p.metadata.name} to patch`);
      if (target.obj.apiVersion !== p.apiVersion) throw new Error(`${file}: apiVersion ${p.apiVersion} ≠ ${target.obj.apiVersion}`);
      const merged = strategicMerge(target.obj, p);
      if (merged === DELETE) res.splice(i, 1);
      else target.obj = merged as K8sObject;
    }
  }

  if (k.namespace !== undefined) {
    if (typeof k.namespace !== 'string') throw new Error(`${dir}: namespace must be a string`);
    for (const r of res) if (!CLUSTER_SCOPED.has(r.obj.kind)) r.obj.metadata.namespace = k.namespace;
  }

  for (const l of objects(k.labels, 'labels')) {
    onlyKeys(l, ['pairs', 'includeSelectors', 'includeTemplates'], 'labels[]');
    if (l.includeSelectors === true || l.includeTemplates === true) throw new Error('labels: selectors/templates are not supported by the test renderer');
    if (!isObject(l.pairs)) throw new Error('labels[].pairs must be a mapping');
    for (const r of res) {
      const md = r.obj.metadata;
      md.labels = { ...(isObject(md.labels) ? md.labels : {}), ...l.pairs };
    }
  }

  setImages(res, objects(k.images, 'images'));
  return res;
}

/** Renders a kustomization directory the way `kustomize build` would (for the features above). */
export function render(dir: string): K8sObject[] {
  const res = build(dir);
  for (const r of res) {
    if (r.generated) r.obj.metadata.name = `${r.origName}-${kustomizeHash(r.obj)}`;
  }
  fixReferences(res);
  return res.map((r) => r.obj);
}
