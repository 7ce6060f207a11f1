// Pull progress as the CLI prints it: the engine's per-layer events folded into one line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PullProgress } from '../../src/containers/pull-progress.js';
import { engineEndpoint, describeEndpoint, homeHash } from '../../src/containers/docker-engine.js';
import { splitCommand } from '../../src/supervisor/container-supervisor.js';

test('layer events become one percentage over the bytes known so far', () => {
  const p = new PullProgress();
  p.add({ status: 'Pulling from library/redis', id: '7' });
  p.add({ status: 'Pulling fs layer', id: 'a' });
  p.add({ status: 'Pulling fs layer', id: 'b' });
  p.add({ status: 'Already exists', id: 'c' });
  p.add({ status: 'Downloading', id: 'a', progressDetail: { current: 2_000_000, total: 8_000_000 } });
  p.add({ status: 'Downloading', id: 'b', progressDetail: { current: 0, total: 2_000_000 } });
  assert.equal(p.text(), '20% of 10.0 MB, 1/3 layers');
  p.add({ status: 'Download complete', id: 'a' });
  p.add({ status: 'Pull complete', id: 'b' });
  assert.equal(p.text(), '100% of 10.0 MB, 3/3 layers');
  p.add('not an event');
  p.add({ status: 'Digest: sha256:abc' });
  assert.equal(p.fraction(), 1);
});

test('the engine endpoint comes from DOCKER_HOST, as the docker CLI reads it', () => {
  assert.deepEqual(engineEndpoint({ DOCKER_HOST: 'unix:///tmp/x.sock' }), { socketPath: '/tmp/x.sock' });
  assert.deepEqual(engineEndpoint({ DOCKER_HOST: 'tcp://10.0.0.2:2376', DOCKER_TLS_VERIFY: '1' }), { protocol: 'https', host: '10.0.0.2', port: 2376 });
  assert.equal(describeEndpoint({ protocol: 'http', host: 'h', port: 2375 }), 'http://h:2375');
  assert.notEqual(homeHash('/a'), homeHash('/b'));
});

test('a run command overrides the image command without a shell', () => {
  assert.deepEqual(splitCommand(`node server.js --name "a b" --x 'c d'`), ['node', 'server.js', '--name', 'a b', '--x', 'c d']);
});
