// DNS rebinding: a web page on evil.example can point its own name at 127.0.0.1 and then talk to
// a loopback server as "same origin", so no CORS rule stops it. Its requests still carry
// `Host: evil.example:PORT`; a server bound to loopback answers only loopback names.

import { RequestError } from './controls.js';

/** A bind address only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** Refuse (403) a Host header that names anything but loopback; a request without one is no browser's. */
export function checkHost(header: string | undefined): void {
  if (header === undefined) return;
  const name = header.startsWith('[') ? header.slice(0, header.indexOf(']') + 1) : header.replace(/:\d*$/, '');
  if (!isLoopback(name.toLowerCase()))
    throw new RequestError(`Host '${header}' refused: this server listens on loopback and answers only Host 127.0.0.1, localhost or [::1] (a page elsewhere must not reach it by DNS rebinding; serve other names with --host)`, 403);
}
