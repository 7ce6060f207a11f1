// The guard's classification: only errors that belong to one connection or stream are survivable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyUnexpected } from './last-resort.js';

const coded = (code: string): Error => Object.assign(new Error(code), { code });

test('per-connection and per-stream errors are survivable, everything else is fatal', () => {
  assert.equal(classifyUnexpected(coded('ECONNRESET')), 'socket');
  assert.equal(classifyUnexpected(coded('EPIPE')), 'socket');
  assert.equal(classifyUnexpected(coded('ERR_STREAM_WRITE_AFTER_END')), 'stream');
  assert.equal(classifyUnexpected(coded('ERR_STREAM_PREMATURE_CLOSE')), 'stream');
  assert.equal(classifyUnexpected(coded('ERR_HTTP2_STREAM_ERROR')), 'stream');
  assert.equal(classifyUnexpected(coded('HPE_INVALID_HEADER_TOKEN')), 'http-parser');
  assert.equal(classifyUnexpected(coded('ERR_SSL_WRONG_VERSION_NUMBER')), 'tls');
  assert.equal(classifyUnexpected(new TypeError("Cannot read properties of null (reading 'x')")), 'fatal');
  assert.equal(classifyUnexpected(coded('ERR_HTTP_HEADERS_SENT')), 'fatal', 'a handler bug, not a connection error');
  assert.equal(classifyUnexpected(coded('EMFILE')), 'fatal', 'out of descriptors is the whole process');
  assert.equal(classifyUnexpected(coded('ERR_TLS_INVALID_CONTEXT')), 'fatal');
  assert.equal(classifyUnexpected('a string'), 'fatal');
  assert.equal(classifyUnexpected(undefined), 'fatal');
});
