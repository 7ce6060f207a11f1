// Policies that use every mapping an exporter has, so that exported and imported again they must come back
// the same (test/export/linkerd.test.ts, consul.test.ts) and their output must fit the upstream CRDs
// (crd-schemas.test.ts). Service names are the test mesh's (test/import/helpers.ts).

/** Everything the Linkerd exporter can write exactly: matches, filters, weights, redirects, retries, timeouts, authorization. */
export const LINKERD_EXACT = {
  routes: {
    api: [
      { name: 'status', match: [{ uri: { exact: '/status' }, method: { regex: '^(GET|HEAD)$' } }], route: [{ destination: { subset: 'v1' } }], retries: { attempts: 0 } },
      { name: 'moved', match: [{ uri: { exact: '/old' } }], redirect: { uri: '/new', redirectCode: 302 } },
      {
        name: 'admin',
        match: [{ uri: { prefix: '/admin' }, headers: { 'x-user': { exact: 'ops' } }, method: { exact: 'POST' } }],
        route: [{ destination: { subset: 'v2' } }],
        headers: { request: { set: { 'x-a': '1' }, remove: ['x-b'] } },
        retries: { attempts: 3, retryOn: '5xx,503', perTryTimeout: '500ms' },
        timeout: '2s',
      },
      { name: 'debug', match: [{ queryParams: { debug: { exact: '1' } }, headers: { 'x-env': { regex: 'stag.*' } } }], route: [{ destination: { host: 'authors' } }], retries: { attempts: 0 } },
      {
        name: 'split',
        route: [{ destination: { subset: 'v1' }, weight: 90 }, { destination: { subset: 'v2' }, weight: 10, headers: { request: { set: { 'x-canary': '1' } } } }],
        retries: { attempts: 2, retryOn: 'gateway-error' },
        timeout: '1.5s',
      },
    ],
  },
  authorization: [
    { name: 'api-callers', service: 'api', action: 'ALLOW' as const, rules: [{ from: [{ source: { services: ['web'] } }] }, { from: [{ source: { services: ['authors'] } }], to: [{ operation: { paths: ['/health', '/v1*'], methods: ['GET'] } }] }] },
    { name: 'authors-closed', service: 'authors', action: 'ALLOW' as const },
  ],
};

/** Everything the Consul exporter can write exactly: router matches and destinations, a split, resolver settings, intentions, mTLS modes. */
export const CONSUL_EXACT = {
  routes: {
    api: [
      {
        name: 'admin',
        match: [{ uri: { prefix: '/admin' }, headers: { 'x-user': { exact: 'ops' }, 'x-team': { prefix: 'pay' } }, method: { exact: 'POST' } }],
        route: [{ destination: { subset: 'v2' } }],
        rewrite: { uri: '/internal' },
        headers: { request: { set: { 'x-a': '1' }, remove: ['x-b'] }, response: { add: { 'x-c': '2' } } },
        retries: { attempts: 3, retryOn: '5xx,connect-failure,503,reset' },
        timeout: '2s',
      },
      // Two match blocks (an OR) become two routes; an inverted "present" header and a regex path.
      { name: 'elsewhere', match: [{ queryParams: { debug: { exact: '1' } }, withoutHeaders: { 'x-canary': {} } }, { uri: { regex: '/v[0-9]+/.*' } }], route: [{ destination: { host: 'authors' } }], retries: { attempts: 0 } },
      { name: 'reads', match: [{ uri: { exact: '/status' }, method: { regex: '^(GET|HEAD)$' } }], route: [{ destination: { subset: 'v1' } }] },
      // Every instance, while the splitter has taken the default route: a resolver subset with an empty filter.
      { name: 'everyone', match: [{ headers: { 'x-all': { exact: '1' } } }], route: [{ destination: {} }], retries: { attempts: 0 } },
      { name: 'split', route: [{ destination: { subset: 'v1' }, weight: 90 }, { destination: { subset: 'v2' }, weight: 10, headers: { request: { set: { 'x-canary': '1' } } } }], retries: { attempts: 0 } },
    ],
    web: [{ name: 'pinned', route: [{ destination: { subset: 'v1', host: 'api' } }], retries: { attempts: 1, retryOn: 'gateway-error' }, timeout: '1500ms' }],
  },
  policies: { api: { connectionPool: { tcp: { connectTimeout: '3s' } }, loadBalancer: { simple: 'LEAST_REQUEST' as const } } },
  serviceMtls: { api: 'PERMISSIVE' as const },
  authorization: [
    { name: 'api-callers', service: 'api', action: 'ALLOW' as const, rules: [{ from: [{ source: { services: ['web'] } }] }, { from: [{ source: { services: ['authors'] } }], to: [{ operation: { paths: ['/health', '/v1/*'], methods: ['GET'] } }] }] },
    { name: 'no-admin', service: 'api', action: 'DENY' as const, rules: [{ to: [{ operation: { paths: ['/admin*'] } }] }] },
    { name: 'authors-from', service: 'authors', action: 'ALLOW' as const, rules: [{ from: [{ source: { services: ['web', 'api'] } }] }] },
    { name: 'web-not-smiley', service: 'web', action: 'DENY' as const, rules: [{ from: [{ source: { services: ['smiley'] } }] }] },
  ],
};

