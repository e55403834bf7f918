// An environment's `runtime:` and `kubernetes:` keys in slipway.yaml: what runs its
// instances, and where on a cluster they go. Only names and references are written
// here; kubeconfig credentials stay in the kubeconfig (or the in-cluster account).

import { z } from 'zod';
import type { KubernetesSettings } from '../core/service-config.ts';
import { field, matching, refusal, wholeNumber } from './fields.ts';
import { section } from './section.ts';

export const KUBERNETES_DEFAULTS = { container_port: 8080, traffic: 'router', history: 3 } as const;

/** A DNS-1123 label: what Kubernetes allows as a namespace or Service name. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const HOSTNAME = /^(\*\.)?[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/;
// An image reference, with {release} and {artefact} allowed where a tag or path part goes.
const IMAGE = /^[a-z0-9]+(?:[._/:@-]+[A-Za-z0-9{}._-]+)*$/;
const IMAGE_PLACEHOLDER = /\{([^}]*)\}/g;

const dnsLabel = (what: string) => matching(`${what} (lowercase letters, digits and -, at most 63 characters)`, DNS_LABEL);

const image = matching('a container image such as registry.example.com/hello:{release}', IMAGE).superRefine((v, ctx) => {
  for (const m of v.matchAll(IMAGE_PLACEHOLDER)) {
    if (m[1] !== 'release' && m[1] !== 'artefact') {
      ctx.addIssue({ code: 'custom', message: `unknown placeholder {${m[1]}}; use {release} (the release number) or {artefact} (the artefact's short digest)` });
    }
  }
});

/** `gateway: public` or `gateway: infra/public` or the long form. */
const gateway = z.union([
  matching('a Gateway name such as public, or namespace/name such as infra/public', /^([a-z0-9-]+\/)?[a-z0-9-]+$/).transform((s) => {
    const [a, b] = s.split('/');
    return b === undefined ? { name: a!, namespace: null, sectionName: null } : { name: b, namespace: a!, sectionName: null };
  }),
  section({
    name: dnsLabel('a Gateway name'),
    namespace: dnsLabel('a namespace').optional(),
    section_name: dnsLabel('a listener name of the Gateway').optional(),
  }).transform((g) => ({ name: g.name, namespace: g.namespace ?? null, sectionName: g.section_name ?? null })),
], { error: (iss) => refusal('a Gateway name, namespace/name, or { name, namespace, section_name }', iss.input) });

export const kubernetesSection = section({
  context: matching('a kubeconfig context name', /^\S{1,253}$/).optional(),
  namespace: dnsLabel('a namespace'),
  image,
  container_port: wholeNumber(1, 65535).prefault(KUBERNETES_DEFAULTS.container_port),
  traffic: field('"router" (slipway\'s router splits traffic) or "gateway" (an HTTPRoute does)', (v) => (v === 'router' || v === 'gateway' ? v : null)).prefault(KUBERNETES_DEFAULTS.traffic),
  gateway: gateway.optional(),
  hostnames: z.array(matching('a host name such as hello.example.com', HOSTNAME), { error: (iss) => refusal('a list of host names', iss.input) }).max(16).optional(),
  history: wholeNumber(0, 50).prefault(KUBERNETES_DEFAULTS.history),
})
  .superRefine((k, ctx) => {
    if (k.traffic === 'gateway' && k.gateway === undefined) {
      ctx.addIssue({ code: 'custom', path: ['gateway'], message: 'traffic: gateway needs the Gateway to attach the HTTPRoute to, e.g. gateway: infra/public' });
    }
    if (k.traffic === 'router' && (k.gateway !== undefined || k.hostnames !== undefined)) {
      ctx.addIssue({ code: 'custom', path: [k.gateway !== undefined ? 'gateway' : 'hostnames'], message: 'only used with traffic: gateway; remove it or set traffic: gateway' });
    }
  })
  .transform((k): KubernetesSettings => ({
    context: k.context ?? null,
    namespace: k.namespace,
    image: k.image,
    containerPort: k.container_port,
    traffic: k.traffic,
    gateway: k.gateway ?? null,
    hostnames: k.hostnames ?? [],
    historyLimit: k.history,
  }));
