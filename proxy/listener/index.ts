// proxy/listener/ owns what both wings do before a request reaches their stack: accepting a connection on
// loopback, telling TLS, h2c and HTTP/1 apart by the first bytes, and the HTTP/1 server's hardening (the
// proxy's own 400/431/408/417 with x-devmesh-error, duplicate Host refused). A wing supplies its servers
// and, optionally, a per-connection decision; see ConnectionListener and hardenedHttpServer.
export { ConnectionListener, SNIFF_TIMEOUT_MS, sniffWire, type Admission, type ListenerWing, type Wire } from './connection-listener.js';
export { hardenedHttpServer, hasDuplicateHost, type RequestHandler, type UpgradeHandler } from './hardened-http-server.js';
