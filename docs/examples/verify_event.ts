// Receive a metabridge event: verify the bridge's JWT, then deduplicate on the event id.
// HS256 with the instance's secret, or EdDSA with the bridge's key (JWKS at
// /.well-known/jwks.json, `kid` in the header). The token's `body_sha256` claim is the hex
// SHA-256 of the exact body bytes: check it over the raw bytes received, before parsing.
// Only node:crypto, no dependency.
import { createHash, createHmac, createPublicKey, generateKeyPairSync, randomUUID, sign, timingSafeEqual, verify } from 'node:crypto';
import type { JsonWebKey } from 'node:crypto';

type Jwks = { keys: (JsonWebKey & { kid: string })[] };
type Keys = { instanceId: string; secret?: string; jwks?: Jwks };

const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');
const decodePart = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));

// --8<-- [start:verify]
/** Returns the event when the token is the bridge's and binds this very body; throws otherwise.
 *  `body` is the raw request body, the bytes as received (never a re-serialized JSON). */
export function verifyEvent(authorization: string, body: Buffer, keys: Keys): { id: string; [k: string]: unknown } {
  const token = authorization.startsWith('Bearer ') ? authorization.slice(7) : '';
  const [h, p, s] = token.split('.');
  if (!h || !p || !s) throw new Error('no bearer token');
  const header = decodePart(h);
  const input = Buffer.from(`${h}.${p}`);
  const signature = Buffer.from(s, 'base64url');
  if (header.alg === 'HS256' && keys.secret) {
    const expected = createHmac('sha256', keys.secret).update(input).digest();
    if (expected.length !== signature.length || !timingSafeEqual(expected, signature)) throw new Error('bad signature');
  } else if (header.alg === 'EdDSA' && keys.jwks) {
    const jwk = keys.jwks.keys.find((k) => k.kid === header.kid); // unknown kid → refresh the JWKS once
    if (!jwk) throw new Error('unknown kid');
    if (!verify(null, input, createPublicKey({ key: jwk, format: 'jwk' }), signature)) throw new Error('bad signature');
  } else {
    throw new Error(`unexpected algorithm ${header.alg}`); // never let the token pick the algorithm
  }
  const claims = decodePart(p);
  const now = Math.floor(Date.now() / 1000);
  if (claims.iss !== 'metabridge' || claims.aud !== keys.instanceId) throw new Error('not for this instance');
  if (typeof claims.exp !== 'number' || claims.exp <= now - 30) throw new Error('expired'); // 30 s clock skew
  // The token binds the body: the SHA-256 of the bytes received must be the signed one.
  const digest = createHash('sha256').update(body).digest('hex');
  if (typeof claims.body_sha256 !== 'string' || claims.body_sha256 !== digest) throw new Error('body altered');
  const event = JSON.parse(body.toString('utf8'));
  if (event.id !== claims.sub || event.instance_id !== keys.instanceId) throw new Error('token of another event');
  return event;
}

/** Remembers event ids already stored (use your database: a unique key on the event id). */
export class Deduplicator {
  private seen = new Set<string>();
  firstTime(eventId: string): boolean {
    if (this.seen.has(eventId)) return false;
    this.seen.add(eventId);
    return true;
  }
}

/** The callback handler: the HTTP status to answer. */
export function handle(headers: Record<string, string>, body: Buffer, dedup: Deduplicator, keys: Keys): number {
  let event;
  try {
    event = verifyEvent(headers['authorization'] ?? '', body, keys);
  } catch {
    return 401;
  }
  if (dedup.firstTime(event.id)) {
    // store / process the event here, then answer 2xx
  }
  return 200; // a duplicate (a retry after a lost answer) is acknowledged, not processed again
}
// --8<-- [end:verify]

// --- a sample delivery, signed the way the bridge signs it ---------------------------------------
function sampleDelivery(instanceId: string, signer: (input: string) => Buffer, header: object) {
  const eventId = `evt_${randomUUID().replaceAll('-', '')}`;
  const body = Buffer.from(JSON.stringify({
    id: eventId, type: 'message.received', instance_id: instanceId,
    channel: { id: 'ch_demo', kind: 'whatsapp', external_id: '106000000000001' },
    conversation_id: 'conv_demo', contact: { id: '5511988887777' },
    occurred_at: '2025-01-01T12:00:00Z', received_at: '2025-01-01T12:00:01Z',
    data: { type: 'text', text: 'Oi!' }, raw: {},
  }));
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: 'metabridge', aud: instanceId, sub: eventId, iat: now, exp: now + 300, jti: randomUUID(),
    body_sha256: createHash('sha256').update(body).digest('hex') };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const headers = {
    authorization: `Bearer ${input}.${b64url(signer(input))}`,
    'x-metabridge-event-id': eventId, 'x-metabridge-event-type': 'message.received', 'x-metabridge-attempt': '1',
  };
  return { headers, body };
}

function assert(condition: boolean, what: string): void {
  if (!condition) throw new Error(`verify_event.ts: ${what}`);
}

const instanceId = 'ins_demo';
const secret = 'the-instance-secret-shown-once-at-creation';
const dedup = new Deduplicator();

// HS256 with the instance secret.
const hs = (key: string) => (input: string) => createHmac('sha256', key).update(input).digest();
const a = sampleDelivery(instanceId, hs(secret), { alg: 'HS256', typ: 'JWT' });
assert(handle(a.headers, a.body, dedup, { instanceId, secret }) === 200, 'a valid event is accepted');
assert(!dedup.firstTime(JSON.parse(a.body.toString('utf8')).id), 'the event is remembered');
assert(handle(a.headers, a.body, dedup, { instanceId, secret }) === 200, 'a retry is acknowledged');
assert(handle(a.headers, a.body, dedup, { instanceId, secret: 'a-wrong-secret-that-is-long-enough-too' }) === 401, 'wrong secret');
assert(handle(a.headers, a.body, dedup, { instanceId: 'ins_other', secret }) === 401, 'another instance');
const b = sampleDelivery(instanceId, hs(secret), { alg: 'HS256', typ: 'JWT' });
assert(handle(a.headers, b.body, dedup, { instanceId, secret }) === 401, 'a token of another event');
const altered = Buffer.from(a.body.toString('utf8').replace('Oi!', 'Olá'));
assert(handle(a.headers, altered, dedup, { instanceId, secret }) === 401, 'a body altered in transit');
assert(handle(a.headers, Buffer.concat([a.body, Buffer.from(' ')]), dedup, { instanceId, secret }) === 401, 'even whitespace');
const [ah, ap] = a.headers.authorization.slice(7).split('.');
const { body_sha256: _dropped, ...unboundClaims } = decodePart(ap);
const unboundInput = `${ah}.${b64url(JSON.stringify(unboundClaims))}`;
const unbound = { ...a.headers, authorization: `Bearer ${unboundInput}.${b64url(hs(secret)(unboundInput))}` };
assert(handle(unbound, a.body, dedup, { instanceId, secret }) === 401, 'a token without body_sha256');

// EdDSA with the bridge's key, looked up by kid in its JWKS.
const { publicKey, privateKey } = generateKeyPairSync('ed25519');
const jwks: Jwks = { keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'bridge-key-1', alg: 'EdDSA', use: 'sig' }] };
const c = sampleDelivery(instanceId, (input) => sign(null, Buffer.from(input), privateKey), { alg: 'EdDSA', typ: 'JWT', kid: 'bridge-key-1' });
assert(handle(c.headers, c.body, dedup, { instanceId, jwks }) === 200, 'an EdDSA event is accepted');
assert(handle(c.headers, c.body, dedup, { instanceId, secret }) === 401, 'no JWKS given');
assert(handle(c.headers, Buffer.concat([c.body, Buffer.from('\n')]), dedup, { instanceId, jwks }) === 401, 'an EdDSA body altered');

console.log('verify_event.ts: HS256 and EdDSA events verified, duplicates, forgeries and altered bodies handled');
