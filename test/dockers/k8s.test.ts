/**
 * The Kubernetes manifests: every object valid against the Kubernetes API schemas
 * (kubernetes-models), and wired together — probes hit the status listener the env enables, Services
 * target ports the container declares, the ConfigMap holds instances.toml verbatim and is mounted
 * where AUTO_INFER_LLAMA_CPP_CONFIG points, the grace period exceeds the instances' stop grace.
 */
import path from 'node:path';
import { ConfigMap, PersistentVolumeClaim, Service } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { parse as parseToml } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { DOCKERFILE, INSTANCE_STOP_GRACE_S, K8S_DIR, K8S_FILES, loadYamlDocuments, read } from './support.js';

const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
};

const objects = K8S_FILES.flatMap((file) => loadYamlDocuments(file).map((doc) => ({ file: path.basename(file), doc })));
const of = (kind: string) => objects.filter((o) => o.doc.kind === kind).map((o) => o.doc);
const deployment = of('Deployment')[0];
const pod = deployment.spec.template.spec;
const container = pod.containers[0];
const env = Object.fromEntries((container.env as { name: string; value: string }[]).map((e) => [e.name, e.value]));
const portByName = new Map<string, number>((container.ports as { name: string; containerPort: number }[]).map((p) => [p.name, p.containerPort]));

/** A probe's port, by name or number. */
const probePort = (probe: any): number => (typeof probe.httpGet.port === 'string' ? portByName.get(probe.httpGet.port)! : probe.httpGet.port);

/** Every key path of a manifest (array elements walked, not named). */
function keyPaths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(value)) return value.flatMap((v, i) => keyPaths(v, [...prefix, i]));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => [[...prefix, k], ...keyPaths(v, [...prefix, k])]);
  return [];
}

/**
 * Keys the schema does not know. kubernetes-models ignores unknown fields (as the API server does
 * without strict field validation), so a typo like `livenesProbe` would pass silently: a key is
 * known iff putting a value no field accepts under it makes validation fail.
 */
function unknownKeys(doc: any): string[] {
  const Model = MODELS[`${doc.apiVersion}/${doc.kind}`]!;
  return keyPaths(doc)
    .filter((p) => {
      const poisoned = structuredClone(doc);
      let at = poisoned;
      for (const part of p.slice(0, -1)) at = at[part];
      at[p.at(-1)!] = [[{}]];
      try {
        new Model(poisoned).validate();
        return true;
      } catch {
        return false;
      }
    })
    .map((p) => p.join('.'));
}

describe('Kubernetes manifests', () => {
  it('every object is valid against the Kubernetes API schema', () => {
    expect(objects.map((o) => o.doc.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'PersistentVolumeClaim', 'PersistentVolumeClaim', 'Service', 'Service', 'Service']);
    for (const { file, doc } of objects) {
      const Model = MODELS[`${doc.apiVersion}/${doc.kind}`];
      expect(Model, `${file}: ${doc.apiVersion} ${doc.kind} is a known kind`).toBeDefined();
      expect(() => new Model!(doc).validate(), `${file}: ${doc.kind} ${doc.metadata?.name}`).not.toThrow();
    }
  });

  it('no object has a key the Kubernetes schema does not know (typos)', () => {
    for (const { file, doc } of objects) expect(unknownKeys(doc), `${file}: ${doc.kind}`).toEqual([]);
    const typo = structuredClone(deployment);
    typo.spec.template.spec.containers[0].livenesProbe = structuredClone(typo.spec.template.spec.containers[0].livenessProbe);
    const found = unknownKeys(typo);
    expect(found).toContain('spec.template.spec.containers.0.livenesProbe');
    expect(found.filter((k) => !k.startsWith('spec.template.spec.containers.0.livenesProbe'))).toEqual([]);
  });

  it('validation is live: a string port and a missing image are refused', () => {
    const bad = structuredClone(deployment);
    bad.spec.template.spec.containers[0].ports[0].containerPort = 'eighty';
    expect(() => new Deployment(bad).validate()).toThrow(/containerPort/);
    const noImage = structuredClone(deployment);
    delete noImage.spec.template.spec.containers[0].image;
    noImage.spec.template.spec.containers[0].name = 42;
    expect(() => new Deployment(noImage).validate()).toThrow();
  });

  it('the ConfigMap holds dockers/k8s/instances.toml verbatim, mounted where AUTO_INFER_LLAMA_CPP_CONFIG points', () => {
    const configMap = of('ConfigMap')[0];
    const [key, text] = Object.entries(configMap.data as Record<string, string>)[0]!;
    expect(text, 'configmap.yaml is stale: regenerate it from instances.toml').toBe(read(path.join(K8S_DIR, 'instances.toml')));
    const volume = pod.volumes.find((v: any) => v.configMap?.name === configMap.metadata.name);
    const mount = container.volumeMounts.find((m: any) => m.name === volume.name);
    expect(env.AUTO_INFER_LLAMA_CPP_CONFIG).toBe(path.posix.join(mount.mountPath, key));
    expect(env.AUTO_INFER_LLAMA_CPP_ON_BOOT).toBe('1');
  });

  it('declares a container port and a Service for every instance port, and nothing else', () => {
    const toml = parseToml(read(path.join(K8S_DIR, 'instances.toml'))) as any;
    const instancePorts = Object.entries(toml.instance as Record<string, any>)
      .filter(([name]) => name !== 'control' && name !== 'server')
      .map(([, inst]) => Number(inst.server.port));
    const statusPort = Number(env.AUTO_INFER_STATUS_ADDR!.split(':').at(-1));
    expect([...portByName.values()].sort()).toEqual([...instancePorts, statusPort].sort());
    const targeted = of('Service').flatMap((s) => s.spec.ports.map((p: any) => (typeof p.targetPort === 'string' ? portByName.get(p.targetPort) : p.targetPort)));
    expect(targeted.sort()).toEqual([...instancePorts, statusPort].sort());
    for (const s of of('Service')) expect(s.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
  });

  it('probes ask the status listener: /healthz to stay alive, /readyz for traffic', () => {
    const [host, port] = env.AUTO_INFER_STATUS_ADDR!.split(':');
    expect(host, 'the kubelet reaches the pod IP, not loopback').toBe('0.0.0.0');
    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) expect(probePort(container[probe]), probe).toBe(Number(port));
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(container.startupProbe.httpGet.path).toBe('/healthz');
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
  });

  it('stops gracefully: the grace period exceeds the instances stop grace, one pod at a time', () => {
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(INSTANCE_STOP_GRACE_S);
    expect(deployment.spec.strategy.type).toBe('Recreate');
  });

  it('requests GPUs, mounts models read-only and the cache on a PVC, runs as the image user', () => {
    expect(container.resources.limits['nvidia.com/gpu']).toBeGreaterThan(0);
    const byPath = new Map<string, any>(container.volumeMounts.map((m: any) => [m.mountPath, m]));
    expect(byPath.get('/models')?.readOnly).toBe(true);
    const cache = pod.volumes.find((v: any) => v.name === byPath.get('/soft/app/cache')?.name);
    const claims = of('PersistentVolumeClaim').map((c) => c.metadata.name);
    expect(claims).toContain(cache.persistentVolumeClaim.claimName);
    const appUid = Number(/^ARG APP_UID=(\d+)$/m.exec(read(DOCKERFILE))![1]);
    expect(pod.securityContext.runAsUser, 'the uid that owns /soft/app in the image').toBe(appUid);
    expect(pod.securityContext.fsGroup).toBe(appUid);
    expect(env.AUTO_INFER_LLAMA_CPP_PKG_PATH!.startsWith('/models/')).toBe(true);
  });
});
