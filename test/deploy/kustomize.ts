/**
 * The deploy tests render k8s/ with the real kustomize: `kubectl kustomize`
 * (kustomize v5 built into kubectl ≥ 1.27). .ci/run checks that CI has one;
 * without it the deploy tests fail with the reason instead of skipping.
 * (Debian bookworm's own kubectl, package kubernetes-client 1.20, ships
 * kustomize v2, which cannot read these kustomizations: see .ci/run.)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { parseAllDocuments } from 'yaml';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export interface K8sObject extends JsonObject {
  apiVersion: string;
  kind: string;
  metadata: JsonObject & { name: string };
}

export function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
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

/** Throws unless `kubectl` is on PATH with kustomize v5 or later. */
export function requireKustomizeV5(): void {
  const probe = spawnSync('kubectl', ['version', '--client', '-o', 'json'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Error(`the deploy tests render k8s/ with \`kubectl kustomize\`: kubectl is not installed (${probe.error?.message ?? probe.stderr.trim()})`);
  }
  const v = /"kustomizeVersion":\s*"v(\d+)[^"]*"/.exec(probe.stdout);
  if (v === null || Number(v[1]) < 5) {
    throw new Error(`the deploy tests need kubectl with kustomize v5 or later (this kubectl has ${v?.[0] ?? 'no kustomizeVersion'})`);
  }
}

/** `kubectl kustomize dir`, as objects. */
export function render(dir: string): K8sObject[] {
  const out = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return parseYamlDocs(out, `kubectl kustomize ${dir}`).map((o) => {
    const md = o.metadata;
    if (typeof o.apiVersion !== 'string' || typeof o.kind !== 'string' || !isObject(md) || typeof md.name !== 'string') {
      throw new Error(`kubectl kustomize ${dir}: an object without apiVersion/kind/metadata.name`);
    }
    return o as K8sObject;
  });
}
