// The UI link form: what the CLI writes is what the renderer reads back, the token taken out and the
// route and its other parameters left as they were.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitUiToken, uiLink } from '../../src/contract/ui-link.js';

test('a deep link carries route, parameters and token in the fragment, and the token comes out cleanly', () => {
  const link = uiLink('http://127.0.0.1:4000/', 'tok_en-1', 'traces', { trace: 'abc123', span: 'def' });
  assert.equal(link, 'http://127.0.0.1:4000/#/traces?trace=abc123&span=def&token=tok_en-1');
  const url = new URL(link);
  assert.equal(url.search, '', 'nothing in the query string, which the browser would send');
  assert.deepEqual(splitUiToken(url.hash), { token: 'tok_en-1', rest: '/traces?trace=abc123&span=def' });
});

test('every fragment form the UI accepts', () => {
  assert.deepEqual(splitUiToken('#token=t1'), { token: 't1', rest: '' });
  assert.deepEqual(splitUiToken(new URL(uiLink('http://h', 't1')).hash), { token: 't1', rest: '' });
  assert.deepEqual(splitUiToken('#/traces?token=t1&trace=x'), { token: 't1', rest: '/traces?trace=x' });
  assert.deepEqual(splitUiToken('#/overview?token=t1'), { token: 't1', rest: '/overview' });
  assert.deepEqual(splitUiToken('#trace=x&token=t1'), { token: 't1', rest: 'trace=x' });
  // No token: the fragment is left exactly as it was.
  assert.deepEqual(splitUiToken('#/traces?trace=x&route=split'), { token: null, rest: '/traces?trace=x&route=split' });
  assert.deepEqual(splitUiToken('#/tap'), { token: null, rest: '/tap' });
  assert.deepEqual(splitUiToken(''), { token: null, rest: '' });
  // An empty token is no token, and does not stay in the address bar either.
  assert.deepEqual(splitUiToken('#/tap?token='), { token: null, rest: '/tap' });
});

test('a token that needs escaping survives the round trip', () => {
  const token = 'a+b/c=d&e';
  assert.equal(splitUiToken(new URL(uiLink('http://h', token, 'service', { name: 'reviews' })).hash).token, token);
});
