// Istio AuthorizationPolicy, evaluated by the inbound for each request, in Istio's order:
//   CUSTOM (no external authorizer here: reported as not enforced) → any DENY match denies →
//   no ALLOW policy allows → any ALLOW match allows → otherwise deny.
// AUDIT policies never change the verdict; a match is reported in the span.
// Within a rule, from / to / when AND; entries of from (and of to) OR; fields of one entry AND;
// values of one field OR, with Istio's wildcards: "*" (present), "prefix*", "*suffix".
// A raw TCP connection has only connection-level attributes (source principal / namespace / ip,
// destination port). Istio's rule for the HTTP-only fields (methods, paths, hosts, request.* conditions)
// on TCP traffic, from its "Authorization for TCP traffic" task: an ALLOW (or AUDIT) rule that uses one is
// ignored whole (it matches no connection); a DENY rule has those fields dropped and the rest evaluated,
// so a DENY rule with only HTTP-only fields denies every connection.
import type { IncomingMessage } from 'node:http';
import type { AuthorizationCondition, AuthorizationOperation, AuthorizationPolicy, AuthorizationRule, AuthorizationSource } from '../protocol/index.js';
import { pathOnly } from '../http-headers.js';

export interface AuthzRequest {
  /** 'tcp': a raw connection; method, path, host and headers are empty and HTTP-only fields follow Istio's TCP rule. */
  layer?: 'http' | 'tcp';
  method: string;
  path: string;
  host: string;
  port: number;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** SPIFFE id of the verified peer, or null (plaintext). */
  peer: string | null;
  sourceIp: string;
}

export interface AuthzVerdict {
  allowed: boolean;
  /** "policy[rule]" that decided, or a sentence when no single rule did. */
  by: string;
  /** AUDIT matches and CUSTOM policies left unenforced, for the span. */
  notes: string[];
}

function valueMatches(pattern: string, value: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) return value.startsWith(pattern.slice(0, -1));
  if (pattern.startsWith('*')) return value.endsWith(pattern.slice(1));
  return value === pattern;
}

/** values (any of them) and notValues (none of them); absent lists do not constrain. A missing value matches no value. */
function field(value: string | null, values: string[] | undefined, notValues: string[] | undefined, fold = false): boolean {
  const v = value === null ? null : fold ? value.toLowerCase() : value;
  const test = (p: string) => v !== null && valueMatches(fold ? p.toLowerCase() : p, v);
  if (values !== undefined && !values.some(test)) return false;
  if (notValues !== undefined && notValues.some(test)) return false;
  return true;
}

function principalOf(peer: string | null): string | null {
  return peer === null ? null : peer.replace(/^spiffe:\/\//, '');
}

function namespaceOf(peer: string | null): string | null {
  const m = peer === null ? null : /\/ns\/([^/]+)\//.exec(peer);
  return m ? m[1]! : null;
}

function sourceMatches(s: AuthorizationSource, r: AuthzRequest): boolean {
  const principal = principalOf(r.peer);
  return field(principal, s.principals, s.notPrincipals) && field(namespaceOf(r.peer), s.namespaces, s.notNamespaces);
}

function operationMatches(o: AuthorizationOperation, r: AuthzRequest): boolean {
  return (
    field(r.method, o.methods, o.notMethods) &&
    field(r.path, o.paths, o.notPaths) &&
    field(String(r.port), o.ports, o.notPorts) &&
    field(r.host, o.hosts, o.notHosts, true)
  );
}

function conditionValue(key: string, r: AuthzRequest): string | null {
  const header = /^request\.headers\[(.+)\]$/.exec(key);
  if (header) {
    const v = r.headers[header[1]!.toLowerCase()];
    return v === undefined ? null : Array.isArray(v) ? v.join(',') : v;
  }
  switch (key) {
    case 'source.principal':
      return principalOf(r.peer);
    case 'source.namespace':
      return namespaceOf(r.peer);
    case 'source.ip':
      return r.sourceIp;
    case 'destination.port':
      return String(r.port);
    case 'request.method':
      return r.method;
    case 'request.path':
      return r.path;
    default:
      return null;
  }
}

function conditionMatches(c: AuthorizationCondition, r: AuthzRequest): boolean {
  return field(conditionValue(c.key, r), c.values, c.notValues);
}

function ruleMatches(rule: AuthorizationRule, r: AuthzRequest): boolean {
  if (rule.from !== undefined && rule.from.length > 0 && !rule.from.some((s) => sourceMatches(s, r))) return false;
  if (rule.to !== undefined && rule.to.length > 0 && !rule.to.some((o) => operationMatches(o, r))) return false;
  if (rule.when !== undefined && !rule.when.every((c) => conditionMatches(c, r))) return false;
  return true;
}

const HTTP_CONDITION = /^request\./;

function operationUsesHttp(o: AuthorizationOperation): boolean {
  return o.methods !== undefined || o.notMethods !== undefined || o.paths !== undefined || o.notPaths !== undefined || o.hosts !== undefined || o.notHosts !== undefined;
}

/** True when the rule names a field a TCP connection does not have (methods, paths, hosts, request.* conditions). */
export function ruleUsesHttp(rule: AuthorizationRule): boolean {
  return (rule.to ?? []).some(operationUsesHttp) || (rule.when ?? []).some((c) => HTTP_CONDITION.test(c.key));
}

/** A DENY rule as Istio applies it to TCP: the HTTP-only fields dropped (an operation left empty matches any). */
function withoutHttpFields(rule: AuthorizationRule): AuthorizationRule {
  return {
    ...(rule.from !== undefined ? { from: rule.from } : {}),
    ...(rule.to !== undefined ? { to: rule.to.map((o) => ({ ports: o.ports, notPorts: o.notPorts })) } : {}),
    ...(rule.when !== undefined ? { when: rule.when.filter((c) => !HTTP_CONDITION.test(c.key)) } : {}),
  };
}

/** The index of the first rule of `policy` that matches, or -1 (a policy without rules matches nothing). */
function matchingRule(policy: AuthorizationPolicy, r: AuthzRequest): number {
  if (policy.rules === null) return -1;
  if (r.layer !== 'tcp') return policy.rules.findIndex((rule) => ruleMatches(rule, r));
  return policy.rules.findIndex((rule) => {
    if (!ruleUsesHttp(rule)) return ruleMatches(rule, r);
    return policy.action === 'DENY' ? ruleMatches(withoutHttpFields(rule), r) : false;
  });
}

export function authorize(policies: readonly AuthorizationPolicy[], r: AuthzRequest): AuthzVerdict {
  const notes: string[] = [];
  for (const p of policies) {
    if (r.layer === 'tcp' && p.action !== 'CUSTOM') {
      p.rules?.forEach((rule, i) => {
        if (ruleUsesHttp(rule)) notes.push(`${p.action} ${p.name}[${i}] uses HTTP-only fields: ${p.action === 'DENY' ? 'they are dropped for TCP' : 'ignored for TCP'}`);
      });
    }
    if (p.action === 'CUSTOM') notes.push(`CUSTOM ${p.name} not enforced (no external authorizer)`);
    if (p.action === 'AUDIT') {
      const i = matchingRule(p, r);
      if (i !== -1) notes.push(`AUDIT ${p.name}[${i}] matched`);
    }
  }
  for (const p of policies) {
    if (p.action !== 'DENY') continue;
    const i = matchingRule(p, r);
    if (i !== -1) return { allowed: false, by: `${p.name}[${i}]`, notes };
  }
  const allows = policies.filter((p) => p.action === 'ALLOW');
  if (allows.length === 0) return { allowed: true, by: policies.length === 0 ? 'no policies' : 'no ALLOW policy', notes };
  for (const p of allows) {
    const i = matchingRule(p, r);
    if (i !== -1) return { allowed: true, by: `${p.name}[${i}]`, notes };
  }
  return { allowed: false, by: `no ALLOW policy matched (${allows.map((p) => p.name).join(', ')})`, notes };
}

/** What the inbound knows of an exchange when it authorizes it (an InboundExchange is one). */
export interface AuthzSubject {
  readonly method: string;
  readonly target: string;
}

/**
 * The policies applied to an HTTP request, or to a WebSocket upgrade before it upgrades. `peer` is the
 * peer as authorization sees it (TrustDomains.canonical: an alias's id in the mesh's trust domain).
 */
export function authorizeRequest(policies: readonly AuthorizationPolicy[], req: IncomingMessage, subject: AuthzSubject, peer: string | null, appPort: number): AuthzVerdict {
  return authorize(policies, {
    method: subject.method,
    path: pathOnly(subject.target),
    host: String(req.headers.host ?? ''),
    port: appPort,
    headers: req.headers,
    peer,
    sourceIp: req.socket.remoteAddress ?? '',
  });
}

/** The policies applied to a raw TCP connection: connection attributes only (Istio's TCP rule, above). */
export function authorizeConnection(policies: readonly AuthorizationPolicy[], peer: string | null, appPort: number, sourceIp: string | undefined): AuthzVerdict {
  return authorize(policies, { layer: 'tcp', method: '', path: '', host: '', port: appPort, headers: {}, peer, sourceIp: sourceIp ?? '' });
}
