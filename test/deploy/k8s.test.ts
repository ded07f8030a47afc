/**
 * Offline validation of k8s/: the base and the overlays are rendered by the
 * real kustomize (`kubectl kustomize`, see ./kustomize.ts), every object is
 * validated against the Kubernetes OpenAPI schema (kubernetes-models), and
 * the deployment policies are asserted one by one.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { StatefulSet, type IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler, type IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { NetworkPolicy, type INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { INetworkPolicyPeer } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyPeer';
import { PodDisruptionBudget, type IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap, type IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import { Namespace, type INamespace } from 'kubernetes-models/v1/Namespace';
import { PersistentVolumeClaim, type IPersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import { Secret, type ISecret } from 'kubernetes-models/v1/Secret';
import { Service, type IService } from 'kubernetes-models/v1/Service';
import { parseDockerfile } from './dockerfile';
import { isObject, parseYamlDocs, render, requireKustomizeV5, type K8sObject } from './kustomize';

const ROOT = path.resolve(__dirname, '..', '..');
const K8S = path.join(ROOT, 'k8s');
const VARIANTS = ['base', 'overlays/example', 'overlays/managed-redis', 'overlays/redis-sentinel'] as const;
type Variant = (typeof VARIANTS)[number];

/** The longest long-poll `wait` the API accepts (spec: 0–60 s). */
const MAX_WAIT_SECONDS = 60;

// ----------------------------------------------------------------- models

interface Validatable {
  validate(): void;
}
/** apiVersion/kind → kubernetes-models class. A kind missing here fails the test. */
const MODELS: Record<string, new (data: never) => Validatable> = {
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'v1/Service': Service,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'v1/Namespace': Namespace,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
};

interface Kinds {
  Deployment: IDeployment;
  StatefulSet: IStatefulSet;
  Service: IService;
  ConfigMap: IConfigMap;
  Secret: ISecret;
  PersistentVolumeClaim: IPersistentVolumeClaim;
  Namespace: INamespace;
  PodDisruptionBudget: IPodDisruptionBudget;
  HorizontalPodAutoscaler: IHorizontalPodAutoscaler;
  NetworkPolicy: INetworkPolicy;
}

/** Objects of a kind, typed by the (schema-validated) kubernetes-models interface. */
function all<K extends keyof Kinds>(objs: K8sObject[], kind: K): Kinds[K][] {
  return objs.filter((o) => o.kind === kind) as unknown as Kinds[K][];
}

function one<K extends keyof Kinds>(objs: K8sObject[], kind: K, name: string): Kinds[K] {
  const found = all(objs, kind).filter((o) => o.metadata?.name === name);
  assert.equal(found.length, 1, `expected exactly one ${kind}/${name}`);
  return found[0] as Kinds[K];
}

/** Generated objects carry a hash suffix: find them by their original name. */
function generated<K extends 'ConfigMap' | 'Secret'>(objs: K8sObject[], kind: K, name: string): Kinds[K] {
  const found = all(objs, kind).filter((o) => new RegExp(`^${name}-[a-z0-9]{10}$`).test(o.metadata?.name ?? ''));
  assert.equal(found.length, 1, `expected exactly one generated ${kind}/${name}-<hash>`);
  return found[0] as Kinds[K];
}

function podSpec(w: IDeployment | IStatefulSet): IPodSpec {
  const spec = w.spec?.template.spec;
  assert.ok(spec, `${w.kind}/${w.metadata?.name}: no pod template spec`);
  return spec;
}

function podLabels(w: IDeployment | IStatefulSet): Record<string, string> {
  return w.spec?.template.metadata?.labels ?? {};
}

function container(w: IDeployment | IStatefulSet, name: string): IContainer {
  const c = podSpec(w).containers.find((x) => x.name === name);
  assert.ok(c, `${w.kind}/${w.metadata?.name}: no container ${name}`);
  return c;
}

function workloads(objs: K8sObject[]): (IDeployment | IStatefulSet)[] {
  return [...all(objs, 'Deployment'), ...all(objs, 'StatefulSet')];
}

function allContainers(w: IDeployment | IStatefulSet): IContainer[] {
  const s = podSpec(w);
  return [...(s.initContainers ?? []), ...s.containers];
}

/** Whether a matchLabels selector selects these labels. */
function selects(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

/** The container port a probe or Service port resolves to (named or numeric). */
function resolvePort(c: IContainer, port: number | string | undefined): number | undefined {
  if (typeof port === 'number') return c.ports?.some((p) => p.containerPort === port) ? port : undefined;
  return c.ports?.find((p) => p.name === port)?.containerPort;
}

function httpPath(p: IProbe | undefined): string | undefined {
  return p?.httpGet?.path;
}

function envValue(c: IContainer, name: string): string | undefined {
  return c.env?.find((e) => e.name === name)?.value;
}

// ---------------------------------------------------------------- render

let tmp = '';
const rendered = {} as Record<Variant, K8sObject[]>;

function objs(v: Variant): K8sObject[] {
  const r = rendered[v];
  assert.ok(r, `${v} was not rendered`);
  return r;
}

before(function () {
  this.timeout(60_000); // a kubectl process per variant, on a loaded machine
  requireKustomizeV5();
  // A throwaway copy: the base's secretGenerator needs api-keys.txt, which is
  // never committed. A random key proves nothing is read from the repo.
  tmp = mkdtempSync(path.join(os.tmpdir(), 'telegate-k8s-'));
  cpSync(K8S, tmp, { recursive: true });
  writeFileSync(path.join(tmp, 'base', 'api-keys.txt'), `test-${randomBytes(16).toString('hex')}\n`, { mode: 0o600 });
  for (const v of VARIANTS) rendered[v] = render(path.join(tmp, v));
});

after(() => {
  if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
});

// ----------------------------------------------------------------- tests

describe('deploy: k8s manifests', () => {
  for (const v of VARIANTS) {
    describe(`${v} (rendered)`, () => {
      it('every object validates against the Kubernetes schema (kubernetes-models)', () => {
        assert.ok(objs(v).length > 0);
        for (const o of objs(v)) {
          const Model = MODELS[`${o.apiVersion}/${o.kind}`];
          assert.ok(Model, `no validator for ${o.apiVersion} ${o.kind}: add it to MODELS`);
          assert.doesNotThrow(() => new Model(o as never).validate(), `${o.kind}/${o.metadata.name}`);
        }
      });

      it('every container has cpu/memory requests and a memory limit', () => {
        for (const w of workloads(objs(v))) {
          for (const c of allContainers(w)) {
            const r = c.resources;
            const where = `${w.metadata?.name}/${c.name}`;
            assert.ok(r?.requests?.cpu !== undefined && r.requests.memory !== undefined, `${where}: requests`);
            assert.ok(r.limits?.memory !== undefined, `${where}: memory limit`);
          }
        }
      });

      it('every image has an explicit version tag (or digest), never latest', () => {
        for (const w of workloads(objs(v))) {
          for (const c of allContainers(w)) {
            assert.match(c.image ?? '', /^[^:@]+(:\d[\w.-]*)?(@sha256:[0-9a-f]{64})?$/, `${c.name}: ${c.image}`);
            assert.match(c.image ?? '', /:\d|@sha256:/, `${c.name}: ${c.image} has no version`);
          }
        }
      });

      it('every pod meets the restricted profile and has a writable /tmp on a read-only root', () => {
        for (const w of workloads(objs(v))) {
          const pod = podSpec(w);
          const where = `${w.kind}/${w.metadata?.name}`;
          assert.equal(pod.securityContext?.runAsNonRoot, true, `${where}: runAsNonRoot`);
          assert.ok((pod.securityContext?.runAsUser ?? 0) > 0, `${where}: numeric non-root runAsUser`);
          assert.equal(pod.securityContext?.seccompProfile?.type, 'RuntimeDefault', `${where}: seccomp`);
          assert.equal(pod.automountServiceAccountToken, false, `${where}: no service account token`);
          assert.equal(pod.hostNetwork ?? false, false);
          for (const c of allContainers(w)) {
            const sc = c.securityContext;
            assert.equal(sc?.readOnlyRootFilesystem, true, `${where}/${c.name}: readOnlyRootFilesystem`);
            assert.equal(sc.allowPrivilegeEscalation, false, `${where}/${c.name}: allowPrivilegeEscalation`);
            assert.equal(sc.privileged ?? false, false);
            assert.deepEqual(sc.capabilities?.drop, ['ALL'], `${where}/${c.name}: drop ALL`);
            assert.equal(sc.capabilities.add, undefined);
            const tmpMount = c.volumeMounts?.find((m) => m.mountPath === '/tmp');
            assert.ok(tmpMount, `${where}/${c.name}: /tmp mount`);
            assert.ok(pod.volumes?.find((x) => x.name === tmpMount.name)?.emptyDir, `${where}: /tmp is an emptyDir`);
          }
        }
      });

      it('every Service selects a workload and targets one of its container ports', () => {
        for (const s of all(objs(v), 'Service')) {
          const w = workloads(objs(v)).find((x) => selects(s.spec?.selector, podLabels(x)));
          assert.ok(w, `Service/${s.metadata?.name} selects no workload`);
          for (const p of s.spec?.ports ?? []) {
            const target = p.targetPort ?? p.port;
            assert.ok(
              podSpec(w).containers.some((c) => resolvePort(c, target) !== undefined),
              `Service/${s.metadata?.name}: targetPort ${String(target)} is not a container port`,
            );
          }
        }
      });

      it('every generated ConfigMap/Secret reference resolves to a rendered object', () => {
        const names = (kind: 'ConfigMap' | 'Secret'): string[] => all(objs(v), kind).map((o) => o.metadata?.name ?? '');
        for (const w of workloads(objs(v))) {
          for (const vol of podSpec(w).volumes ?? []) {
            if (vol.secret) assert.ok(names('Secret').includes(vol.secret.secretName ?? ''), `Secret ${vol.secret.secretName}`);
            if (vol.configMap) assert.ok(names('ConfigMap').includes(vol.configMap.name ?? ''));
          }
          for (const c of allContainers(w)) {
            for (const e of c.envFrom ?? []) {
              if (e.configMapRef) assert.ok(names('ConfigMap').includes(e.configMapRef.name ?? ''), `ConfigMap ${e.configMapRef.name}`);
              if (e.secretRef) assert.ok(names('Secret').includes(e.secretRef.name ?? ''));
            }
          }
        }
      });

      it('the API keys Secret holds one `api-keys` entry and is mounted read-only where TELEGATE_API_KEYS_FILE points', () => {
        const secret = generated(objs(v), 'Secret', 'telegate-api-keys');
        assert.deepEqual(Object.keys(secret.data ?? {}), ['api-keys']);
        assert.equal(secret.stringData, undefined);
        const dep = one(objs(v), 'Deployment', 'telegate');
        const c = container(dep, 'telegate');
        assert.equal(envValue(c, 'TELEGATE_API_KEYS_FILE'), '/etc/telegate/keys/api-keys');
        assert.equal(c.env?.find((e) => e.name === 'TELEGATE_API_KEYS'), undefined, 'keys only from the file');
        const mount = c.volumeMounts?.find((m) => m.mountPath === '/etc/telegate/keys');
        assert.ok(mount?.readOnly, 'keys mount read-only');
        const vol = podSpec(dep).volumes?.find((x) => x.name === mount.name);
        assert.ok(vol?.secret, 'keys volume is a Secret volume');
        assert.equal(vol.secret.secretName, secret.metadata?.name);
        assert.equal(vol.secret.defaultMode, 0o440, 'readable by the pod group only');
        assert.equal(vol.secret.items, undefined, 'the whole Secret, so the key name is the file name');
        assert.equal(podSpec(dep).securityContext?.fsGroup, podSpec(dep).securityContext?.runAsGroup);
      });

      it('PDB and HPA target the telegate Deployment; HPA min equals Deployment replicas', () => {
        const dep = one(objs(v), 'Deployment', 'telegate');
        const pdb = one(objs(v), 'PodDisruptionBudget', 'telegate');
        assert.equal(pdb.spec?.maxUnavailable, 1);
        assert.equal(pdb.spec.minAvailable, undefined);
        assert.ok(selects(pdb.spec.selector?.matchLabels, podLabels(dep)));
        const hpa = one(objs(v), 'HorizontalPodAutoscaler', 'telegate');
        assert.deepEqual(hpa.spec?.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'telegate' });
        // `kubectl apply` resets spec.replicas; below the HPA floor it would scale down a loaded service.
        assert.equal(dep.spec?.replicas, hpa.spec.minReplicas);
      });
    });
  }

  describe('base: Deployment telegate', () => {
    const dep = (): IDeployment => one(objs('base'), 'Deployment', 'telegate');
    const app = (): IContainer => container(dep(), 'telegate');
    const config = (): Record<string, string> => generated(objs('base'), 'ConfigMap', 'telegate-config').data ?? {};

    it('runs 3 replicas, rolls one extra pod at a time, never below the replica count', () => {
      assert.equal(dep().spec?.replicas, 3);
      assert.deepEqual(dep().spec?.strategy?.rollingUpdate, { maxSurge: 1, maxUnavailable: 0 });
      assert.ok(selects(dep().spec?.selector.matchLabels, podLabels(dep())));
    });

    it('listens on container port 8000 (named http) and sets PORT to match', () => {
      assert.deepEqual(app().ports, [{ name: 'http', containerPort: 8000, protocol: 'TCP' }]);
      assert.equal(envValue(app(), 'PORT'), '8000');
    });

    it('readiness is GET /readyz, liveness (and startup) GET /healthz, all on port 8000', () => {
      const c = app();
      assert.equal(httpPath(c.readinessProbe), '/readyz');
      assert.equal(httpPath(c.livenessProbe), '/healthz', 'liveness must never depend on Redis');
      if (c.startupProbe) assert.equal(httpPath(c.startupProbe), '/healthz');
      for (const p of [c.readinessProbe, c.livenessProbe, c.startupProbe]) {
        if (p === undefined) continue;
        assert.equal(resolvePort(c, p.httpGet?.port), 8000);
        // A probe that times out is a failure: the store answers within 2 s or 503.
        assert.ok((p.timeoutSeconds ?? 1) >= 2);
      }
      const lv = c.livenessProbe;
      assert.ok((lv?.failureThreshold ?? 3) * (lv?.periodSeconds ?? 10) >= 20, 'liveness tolerates ~20 s of stalls');
    });

    it('drains before SIGTERM: preStop sleep, then a grace period above sleep + longest wait + shutdown bound', () => {
      const preStop = app().lifecycle?.preStop;
      assert.ok(preStop, 'preStop hook');
      // The `sleep` action needs nothing in the image; `exec: sleep` would need coreutils.
      const sleep = preStop.sleep?.seconds ?? 0;
      assert.ok(sleep >= 3 && sleep <= 15, `preStop sleep ${sleep}s`);
      assert.equal(preStop.exec, undefined);
      const shutdownMs = Number(config().TELEGATE_SHUTDOWN_TIMEOUT_MS ?? '30000');
      const grace = podSpec(dep()).terminationGracePeriodSeconds ?? 30;
      assert.ok(grace > 90, `grace ${grace}s`);
      assert.ok(grace > sleep + MAX_WAIT_SECONDS + shutdownMs / 1000, `grace ${grace}s < ${sleep} + ${MAX_WAIT_SECONDS} + ${shutdownMs / 1000}`);
    });

    it('runs as the Dockerfile USER (numeric, non-root)', () => {
      const df = parseDockerfile(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
      const last = df.stages[df.stages.length - 1];
      const user = last?.instructions.filter((i) => i.keyword === 'USER').pop()?.args ?? '';
      const [uid, gid] = user.split(':').map(Number);
      assert.equal(podSpec(dep()).securityContext?.runAsUser, uid);
      if (gid !== undefined) assert.equal(podSpec(dep()).securityContext?.runAsGroup, gid);
      assert.equal(app().securityContext?.runAsUser ?? uid, uid);
    });

    it('takes its settings from the ConfigMap and talks to the in-cluster Redis', () => {
      assert.deepEqual(
        app().envFrom?.map((e) => e.configMapRef?.name),
        [generated(objs('base'), 'ConfigMap', 'telegate-config').metadata?.name],
      );
      assert.equal(envValue(app(), 'REDIS_URL'), 'redis://telegate-redis:6379');
      const svc = one(objs('base'), 'Service', 'telegate-redis');
      assert.ok(svc.spec?.ports?.some((p) => p.port === 6379));
      // Service links would inject TELEGATE_PORT=tcp://…, TELEGATE_REDIS_PORT=… into
      // the app's own TELEGATE_* namespace.
      assert.equal(podSpec(dep()).enableServiceLinks, false);
    });

    it('mounts the RWX sessions claim read-only at /sessions = TELEGATE_SESSIONS_DIR', () => {
      const pvc = one(objs('base'), 'PersistentVolumeClaim', 'telegate-sessions');
      assert.deepEqual(pvc.spec?.accessModes, ['ReadWriteMany']);
      const mount = app().volumeMounts?.find((m) => m.mountPath === '/sessions');
      assert.equal(mount?.readOnly, true);
      const vol = podSpec(dep()).volumes?.find((x) => x.name === mount.name);
      assert.equal(vol?.persistentVolumeClaim?.claimName, 'telegate-sessions');
      assert.equal(vol.persistentVolumeClaim.readOnly, true);
      assert.equal(config().TELEGATE_SESSIONS_DIR, '/sessions');
    });

    it('spreads replicas across nodes, preferred (still schedules on one node)', () => {
      const pod = podSpec(dep());
      const tsc = (pod.topologySpreadConstraints ?? []).find((t) => t.topologyKey === 'kubernetes.io/hostname');
      const anti = pod.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution?.find(
        (t) => t.podAffinityTerm.topologyKey === 'kubernetes.io/hostname',
      );
      assert.ok(tsc ?? anti, 'topologySpreadConstraints or preferred podAntiAffinity on kubernetes.io/hostname');
      if (tsc) {
        assert.equal(tsc.whenUnsatisfiable, 'ScheduleAnyway');
        assert.ok(selects(tsc.labelSelector?.matchLabels, podLabels(dep())));
      }
      assert.equal(pod.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution, undefined);
    });

    it('ConfigMap carries the documented settings', () => {
      const c = config();
      assert.equal(c.TELEGATE_LEASE_TTL_SECONDS, '10800');
      assert.equal(c.TELEGATE_TRUST_PROXY, '1', 'one proxy hop, never "true"');
      assert.equal(c.TELEGATE_SYNC_CRON, '0 * * * *');
      assert.equal(c.LOG_LEVEL, 'info');
      assert.match(c.TELEGATE_RATE_LIMIT ?? '', /^\d+$/);
      assert.match(c.TELEGATE_SHUTDOWN_TIMEOUT_MS ?? '', /^\d+$/);
      for (const k of Object.keys(c)) assert.doesNotMatch(k, /KEY|SECRET|PASSWORD|TOKEN|REDIS_URL/, `${k} does not belong in a ConfigMap`);
    });

    it('the app accepts this configuration (src/config.ts loadConfig)', async () => {
      const file = path.join(ROOT, 'src', 'config.ts');
      assert.ok(existsSync(file), 'src/config.ts exists');
      // Every variable set here must be one the app reads: an unknown name is
      // silently ignored, which is how a typo ships.
      const source = readFileSync(file, 'utf8');
      const names = [...Object.keys(config()), ...(app().env ?? []).map((e) => e.name)].filter((n) => n !== 'NODE_OPTIONS');
      for (const n of names) assert.ok(new RegExp(`\\b${n}\\b`).test(source), `${n} is not read by src/config.ts`);

      const mod: unknown = await import(file);
      const loadConfig = isRecord(mod) ? mod.loadConfig : undefined;
      assert.equal(typeof loadConfig, 'function', 'src/config.ts exports loadConfig');
      const keysFile = path.join(tmp, 'base', 'api-keys.txt');
      const env: Record<string, string> = { ...config() };
      for (const e of app().env ?? []) if (e.value !== undefined) env[e.name] = e.value;
      env.TELEGATE_API_KEYS_FILE = keysFile; // the Secret mount, outside a pod
      const noProxy = (): never => {
        throw new Error('no default proxy configured');
      };
      const cfg: unknown = (loadConfig as (env: Record<string, string>, parseProxy: unknown) => unknown)(env, noProxy);
      assert.ok(isRecord(cfg));
      assert.equal(cfg.sessionsDir, '/sessions');
      assert.equal(cfg.trustProxy, 1);
      assert.equal(cfg.redisUrl, 'redis://telegate-redis:6379');
      assert.equal(cfg.shutdownTimeoutMs, Number(config().TELEGATE_SHUTDOWN_TIMEOUT_MS));
    });
  });

  describe('base: Redis', () => {
    const sts = (): IStatefulSet => one(objs('base'), 'StatefulSet', 'telegate-redis');
    const redis = (): IContainer => container(sts(), 'redis');

    it('runs a pinned redis 7 image with AOF (appendfsync everysec) and no eviction', () => {
      assert.match(redis().image ?? '', /^redis:7\.\d+\.\d+/);
      const args = (redis().args ?? []).join(' ');
      assert.match(args, /--appendonly yes\b/);
      assert.match(args, /--appendfsync everysec\b/);
      assert.match(args, /--maxmemory-policy noeviction\b/);
      assert.match(args, /--dir \/data\b/);
      assert.equal(sts().spec?.replicas, 1);
    });

    it('keeps the AOF on a volumeClaimTemplate mounted at /data', () => {
      const vct = sts().spec?.volumeClaimTemplates ?? [];
      const mount = redis().volumeMounts?.find((m) => m.mountPath === '/data');
      assert.ok(mount);
      const claim = vct.find((c) => c.metadata?.name === mount.name);
      assert.ok(claim, 'the /data mount comes from a volumeClaimTemplate');
      assert.deepEqual(claim.spec?.accessModes, ['ReadWriteOnce']);
      assert.ok(claim.spec.resources?.requests?.storage);
    });

    it('is ready on `redis-cli ping` and live on its TCP port (a long AOF load is not a hang)', () => {
      const cmd = (redis().readinessProbe?.exec?.command ?? []).join(' ');
      assert.match(cmd, /redis-cli\b.*\bping\b/);
      assert.match(cmd, /PONG/, 'an error reply (LOADING) must not count as ready');
      assert.ok(redis().livenessProbe?.tcpSocket);
    });

    it('is reached through ClusterIP telegate-redis and governed by a headless Service', () => {
      const svc = one(objs('base'), 'Service', 'telegate-redis');
      assert.notEqual(svc.spec?.clusterIP, 'None');
      const gov = one(objs('base'), 'Service', sts().spec?.serviceName ?? '');
      assert.equal(gov.spec?.clusterIP, 'None');
      for (const s of [svc, gov]) assert.ok(selects(s.spec?.selector, podLabels(sts())));
    });
  });

  describe('base: NetworkPolicies', () => {
    const apiLabels = (): Record<string, string> => podLabels(one(objs('base'), 'Deployment', 'telegate'));
    const redisLabels = (): Record<string, string> => podLabels(one(objs('base'), 'StatefulSet', 'telegate-redis'));
    const portsOf = (rule: { ports?: { port?: number | string; protocol?: string }[] }): string[] =>
      (rule.ports ?? []).map((p) => `${p.protocol ?? 'TCP'}/${String(p.port)}`).sort();
    const isDns = (peer: INetworkPolicyPeer): boolean =>
      peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === 'kube-system' &&
      peer.podSelector?.matchLabels?.['k8s-app'] === 'kube-dns';

    it('telegate: ingress only on TCP 8000', () => {
      const np = one(objs('base'), 'NetworkPolicy', 'telegate');
      assert.ok(selects(np.spec?.podSelector.matchLabels, apiLabels()));
      assert.deepEqual(np.spec?.policyTypes, ['Ingress', 'Egress']);
      const ingress = np.spec?.ingress ?? [];
      assert.ok(ingress.length > 0);
      for (const rule of ingress) assert.deepEqual(portsOf(rule), ['TCP/8000']);
    });

    it('telegate: egress only to Redis pods on 6379 and to kube-dns on 53 UDP+TCP', () => {
      const egress = one(objs('base'), 'NetworkPolicy', 'telegate').spec?.egress ?? [];
      assert.equal(egress.length, 2);
      for (const rule of egress) assert.ok((rule.to ?? []).length > 0 && (rule.ports ?? []).length > 0, 'no open-ended egress rule');
      const toRedis = egress.find((r) => r.to?.every((p) => selects(p.podSelector?.matchLabels, redisLabels()) && !p.namespaceSelector));
      assert.ok(toRedis);
      assert.deepEqual(portsOf(toRedis), ['TCP/6379']);
      const toDns = egress.find((r) => r.to?.every(isDns));
      assert.ok(toDns);
      assert.deepEqual(portsOf(toDns), ['TCP/53', 'UDP/53']);
    });

    it('telegate-redis: only telegate pods may connect, on 6379; no egress', () => {
      const np = one(objs('base'), 'NetworkPolicy', 'telegate-redis');
      assert.ok(selects(np.spec?.podSelector.matchLabels, redisLabels()));
      assert.deepEqual(np.spec?.policyTypes, ['Ingress', 'Egress']);
      assert.equal(np.spec?.ingress?.length, 1);
      const rule = np.spec.ingress[0];
      assert.ok(rule?.from && rule.from.length === 1);
      assert.ok(selects(rule.from[0]?.podSelector?.matchLabels, apiLabels()));
      assert.equal(rule.from[0]?.namespaceSelector, undefined, 'same namespace only');
      assert.deepEqual(portsOf(rule), ['TCP/6379']);
      assert.deepEqual(np.spec.egress, []);
    });
  });

  describe('overlays/example', () => {
    const ex = (): K8sObject[] => objs('overlays/example');

    it('puts every namespaced object in namespace telegate, which enforces the restricted profile', () => {
      const ns = one(ex(), 'Namespace', 'telegate');
      assert.equal(ns.metadata?.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
      for (const o of ex()) if (o.kind !== 'Namespace') assert.equal(o.metadata.namespace, 'telegate', `${o.kind}/${o.metadata.name}`);
    });

    it('sets the image, leaves Redis alone, and raises replicas and the HPA floor together', () => {
      const dep = one(ex(), 'Deployment', 'telegate');
      assert.equal(container(dep, 'telegate').image, 'ghcr.io/example/telegate:0.1.0');
      assert.equal(
        container(one(ex(), 'StatefulSet', 'telegate-redis'), 'redis').image,
        container(one(objs('base'), 'StatefulSet', 'telegate-redis'), 'redis').image,
      );
      assert.equal(dep.spec?.replicas, 4);
      assert.equal(one(ex(), 'HorizontalPodAutoscaler', 'telegate').spec?.minReplicas, 4);
      assert.equal(one(ex(), 'HorizontalPodAutoscaler', 'telegate').spec?.maxReplicas, 10);
    });

    it('merges its settings into the ConfigMap under a new hash name the Deployment follows', () => {
      const base = generated(objs('base'), 'ConfigMap', 'telegate-config');
      const cm = generated(ex(), 'ConfigMap', 'telegate-config');
      assert.notEqual(cm.metadata?.name, base.metadata?.name, 'a config change must roll the pods');
      assert.equal(cm.data?.TELEGATE_SYNC_CRON, '*/15 * * * *');
      assert.equal(cm.data?.TELEGATE_LEASE_TTL_SECONDS, base.data?.TELEGATE_LEASE_TTL_SECONDS);
      const dep = one(ex(), 'Deployment', 'telegate');
      assert.equal(container(dep, 'telegate').envFrom?.[0]?.configMapRef?.name, cm.metadata?.name);
    });
  });

  describe('overlays/managed-redis', () => {
    const mr = (): K8sObject[] => objs('overlays/managed-redis');

    it('drops every in-cluster Redis object', () => {
      assert.deepEqual(
        mr().filter((o) => o.metadata.name.startsWith('telegate-redis')).map((o) => `${o.kind}/${o.metadata.name}`),
        [],
      );
      assert.equal(all(mr(), 'StatefulSet').length, 0);
    });

    it('reads REDIS_URL from an out-of-band Secret (never rendered, never in git)', () => {
      const c = container(one(mr(), 'Deployment', 'telegate'), 'telegate');
      const e = c.env?.find((x) => x.name === 'REDIS_URL');
      assert.equal(e?.value, undefined);
      assert.deepEqual(e?.valueFrom?.secretKeyRef, { name: 'telegate-redis-url', key: 'url' });
      assert.equal(all(mr(), 'Secret').filter((s) => s.metadata?.name === 'telegate-redis-url').length, 0);
    });

    it('lets telegate egress reach the Redis address range and DNS only', () => {
      const egress = one(mr(), 'NetworkPolicy', 'telegate').spec?.egress ?? [];
      assert.equal(egress.length, 2);
      assert.ok(egress.every((r) => r.to?.every((p) => p.podSelector === undefined || p.namespaceSelector !== undefined)));
      const toRedis = egress.find((r) => r.to?.every((p) => p.ipBlock !== undefined));
      assert.ok(toRedis, 'an ipBlock egress rule');
      assert.ok(toRedis.ports?.some((p) => p.port === 6379));
      assert.ok(toRedis.to?.every((p) => p.ipBlock?.cidr !== '0.0.0.0/0'), 'not the whole internet');
    });
  });

  describe('overlays/redis-sentinel', () => {
    const rs = (): K8sObject[] => objs('overlays/redis-sentinel');
    const cm = (): Record<string, string> => generated(rs(), 'ConfigMap', 'telegate-config').data ?? {};
    const app = (): IContainer => container(one(rs(), 'Deployment', 'telegate'), 'telegate');

    it('points at the Sentinels, waits for one replica, and keeps no in-cluster Redis', () => {
      assert.equal(cm().REDIS_SENTINELS, 'redis.redis.svc.cluster.local:26379');
      assert.equal(cm().REDIS_SENTINEL_NAME, 'mymaster');
      assert.equal(cm().TELEGATE_REDIS_WAIT_REPLICAS, '1');
      assert.equal(all(rs(), 'StatefulSet').length, 0);
    });

    it('reads the data and Sentinel passwords from the out-of-band Secret', () => {
      for (const [name, key] of [['REDIS_URL', 'url'], ['REDIS_SENTINEL_PASSWORD', 'sentinel-password']] as const) {
        const e = app().env?.find((x) => x.name === name);
        assert.equal(e?.value, undefined, `${name} is never a literal`);
        assert.deepEqual(e?.valueFrom?.secretKeyRef, { name: 'telegate-redis-url', key });
      }
    });

    it('the app accepts it as Sentinel mode with WAIT 1 (src/config.ts loadConfig)', async () => {
      const { loadConfig } = (await import(path.join(ROOT, 'src', 'config.ts'))) as typeof import('../../src/config');
      const env: Record<string, string> = { ...cm(), TELEGATE_API_KEYS: 'k', REDIS_URL: 'redis://:pw@redis/0', REDIS_SENTINEL_PASSWORD: 'pw' };
      const cfg = loadConfig(env, () => {
        throw new Error('no default proxy configured');
      });
      assert.equal(cfg.redis?.mode, 'sentinel');
      assert.equal(cfg.redisWaitReplicas, 1);
    });

    it('lets telegate egress reach the Redis pods on 6379 and 26379, and DNS only', () => {
      const egress = one(rs(), 'NetworkPolicy', 'telegate').spec?.egress ?? [];
      assert.equal(egress.length, 2);
      const toRedis = egress.find((r) => r.to?.some((p) => p.podSelector?.matchLabels?.['app.kubernetes.io/name'] === 'redis'));
      assert.ok(toRedis, 'an egress rule to the Redis pods');
      assert.deepEqual(toRedis.ports?.map((p) => Number(p.port)).sort((a, b) => a - b), [6379, 26379]);
      assert.ok(toRedis.to?.every((p) => p.namespaceSelector !== undefined && p.ipBlock === undefined));
    });
  });

  describe('repository hygiene', () => {
    function manifestFiles(dir: string): string[] {
      return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
        const p = path.join(dir, d.name);
        if (d.isDirectory()) return manifestFiles(p);
        return /\.ya?ml$/.test(d.name) ? [p] : [];
      });
    }

    it('every manifest reads the same under YAML 1.1 (kubectl) and 1.2 (yes/no, octal, … traps)', () => {
      for (const f of manifestFiles(K8S)) {
        const text = readFileSync(f, 'utf8');
        const v11 = parseAllDocuments(text, { version: '1.1' }).map((d) => d.toJS() as unknown);
        const v12 = parseAllDocuments(text, { version: '1.2' }).map((d) => d.toJS() as unknown);
        assert.ok(isDeepStrictEqual(v11, v12), `${path.relative(ROOT, f)} differs between YAML 1.1 and 1.2`);
      }
    });

    it('every YAML file is used by its kustomization (no orphan manifests)', () => {
      for (const v of VARIANTS) {
        const dir = path.join(K8S, v);
        const k = parseYamlDocs(readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8'), v)[0] ?? {};
        const used = new Set<string>();
        for (const r of Array.isArray(k.resources) ? k.resources : []) if (typeof r === 'string') used.add(r);
        for (const p of Array.isArray(k.patches) ? k.patches : []) if (isObject(p) && typeof p.path === 'string') used.add(p.path);
        for (const f of readdirSync(dir).filter((x) => /\.ya?ml$/.test(x) && x !== 'kustomization.yaml')) {
          assert.ok(used.has(f), `${v}/${f} is not listed in its kustomization.yaml`);
        }
      }
    });

    it('no API key is committed: no Secret data in git, the generator reads an ignored, untracked file', function () {
      const git = (...args: string[]): string => execFileSync('git', ['-C', ROOT, ...args], { encoding: 'utf8' });
      try {
        git('rev-parse', '--git-dir');
      } catch {
        this.skip(); // not a git checkout (e.g. an exported tarball)
      }
      for (const f of manifestFiles(K8S)) {
        for (const doc of parseYamlDocs(readFileSync(f, 'utf8'), f)) {
          if (doc.kind === 'Secret') assert.fail(`${path.relative(ROOT, f)}: a Secret manifest in git`);
        }
      }
      const k = parseYamlDocs(readFileSync(path.join(K8S, 'base', 'kustomization.yaml'), 'utf8'), 'base')[0] ?? {};
      const gens = Array.isArray(k.secretGenerator) ? k.secretGenerator.filter(isObject) : [];
      assert.ok(gens.length > 0);
      for (const g of gens) {
        assert.equal(g.literals, undefined, 'no literal secrets');
        assert.equal(g.envs, undefined);
        for (const f of Array.isArray(g.files) ? g.files : []) {
          assert.equal(typeof f, 'string');
          const rel = path.join('k8s', 'base', (typeof f === 'string' ? f : '').split('=').pop() ?? '');
          assert.equal(spawnSync('git', ['-C', ROOT, 'check-ignore', '-q', '--no-index', rel]).status, 0, `${rel} must be git-ignored`);
          assert.equal(git('ls-files', '--', rel).trim(), '', `${rel} must not be tracked`);
        }
      }
      const tracked = git('ls-files', '--', 'k8s', 'Dockerfile', '.dockerignore').split('\n').filter(Boolean);
      for (const f of tracked) {
        const text = readFileSync(path.join(ROOT, f), 'utf8');
        assert.doesNotMatch(text, /TELEGATE_(API|ADMIN)_KEYS\s*[=:]\s*["']?[A-Za-z0-9_-]{8,}/, `${f}: a literal API key`);
        // Placeholders (<password>, PASSWORD, $VAR) are fine; anything else is a leaked password.
        for (const m of text.matchAll(/rediss?:\/\/[^\s:@/]*:([^\s@/]+)@/g)) {
          assert.match(m[1] ?? '', /^(<[\w-]+>|[A-Z_]+|\$\{?\w+\}?)$/, `${f}: a Redis password in ${m[0]}`);
        }
      }
    });
  });
});

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}
