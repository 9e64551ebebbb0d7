// The generated TypeScript client against the running service (run by scripts/contract.sh).
// Environment: BRIDGE_URL, INSTANCE_ID, INSTANCE_SECRET, CHANNEL_ID, CALLBACK_URL, MESSENGER_CHANNEL_ID,
// CONTACT_PSID (a Messenger contact who wrote; the simulator holds their profile).
// Only the generated client talks to the service; the instance JWT is minted with node:crypto.
// Exits non-zero on the first assertion that fails.
import { createHmac, randomUUID } from 'node:crypto';

import { createClient } from './generated/client';
import {
  channelsContactWindow,
  channelsList,
  connectSessionsCreate,
  connectSessionsGet,
  messagesGet,
  messagesSend,
  templatesList,
} from './generated/sdk.gen';
import type { ContactWindow, ErrorBody, MessageView, SendMessageRequest, TemplatePage } from './generated/types.gen';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const BRIDGE_URL = env('BRIDGE_URL');
const INSTANCE_ID = env('INSTANCE_ID');
const INSTANCE_SECRET = env('INSTANCE_SECRET');
const CHANNEL_ID = env('CHANNEL_ID');
const CALLBACK_URL = env('CALLBACK_URL');
const MESSENGER_CHANNEL_ID = env('MESSENGER_CHANNEL_ID');
const CONTACT_PSID = env('CONTACT_PSID');

// --8<-- [start:jwt]
/** An instance token: HS256 with the instance secret, iss = instance id, aud = metabridge. */
function instanceJwt(lifetimeSecs = 300): string {
  const b64 = (value: object | Buffer) =>
    (Buffer.isBuffer(value) ? value : Buffer.from(JSON.stringify(value))).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({
    iss: INSTANCE_ID,
    aud: 'metabridge',
    iat: now,
    exp: now + lifetimeSecs,
  })}`;
  return `${input}.${b64(createHmac('sha256', INSTANCE_SECRET).update(input).digest())}`;
}
// --8<-- [end:jwt]

function check(condition: unknown, what: string): asserts condition {
  if (!condition) {
    console.error(`typescript scenario: FAILED: ${what}`);
    process.exit(1);
  }
  console.log(`  ok  ${what}`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  // A client of our own (not the module-level default), authenticated with a fresh JWT per request.
  // --8<-- [start:client]
  const client = createClient({ baseUrl: BRIDGE_URL, auth: () => instanceJwt() });
  // --8<-- [end:client]

  // 1. A connect session for WhatsApp, returning to the callback URL's origin; read it back.
  const returnUrl = `${new URL(CALLBACK_URL).origin}/settings/channels`;
  const created = await connectSessionsCreate({
    client,
    body: { kind: 'whatsapp', return_url: returnUrl, locale: 'en' },
  });
  check(created.response.status === 201, `connect_sessions.create answers 201 (got ${created.response.status})`);
  const session = created.data;
  check(session !== undefined, 'the answer has a body');
  check(session.state === 'pending', 'the new session is pending');
  check(session.kind === 'whatsapp', 'its kind is whatsapp');
  check(typeof session.url === 'string' && session.url.includes('/connect/'), 'it carries the one-time connect url');
  check(session.return_url === returnUrl, 'it keeps the return url');

  const read = await connectSessionsGet({ client, path: { id: session.id } });
  check(read.response.status === 200, `connect_sessions.get answers 200 (got ${read.response.status})`);
  check(read.data?.id === session.id, 'reads the same session back');
  check(read.data?.state === 'pending', 'still pending');
  check(read.data?.url === undefined, 'the url is shown only once (absent when read back)');

  // 2. The instance's channels.
  const listed = await channelsList({ client });
  check(listed.response.status === 200, `channels.list answers 200 (got ${listed.response.status})`);
  const mine = (listed.data ?? []).filter((c) => c.id === CHANNEL_ID);
  check(mine.length === 1, 'the WhatsApp channel is listed');
  check(mine[0].kind === 'whatsapp' && mine[0].status === 'active', 'active whatsapp channel');

  // 3. Send a text (no open window with this contact: ignore_window), idempotently.
  // --8<-- [start:send]
  const key = randomUUID();
  const request: SendMessageRequest = {
    channel_id: CHANNEL_ID,
    to: '+55 11 98888-7777',
    message: { type: 'text', body: 'Hello from the TypeScript SDK' },
    ignore_window: true,
    client_reference: 'contract-typescript',
  };
  const sent = await messagesSend({ client, body: request, headers: { 'Idempotency-Key': key }, query: { wait: 5 } });
  // --8<-- [end:send]
  check(sent.response.status === 202, `messages.send answers 202 (got ${sent.response.status})`);
  const message = sent.data;
  check(message !== undefined && message.id.length > 0, 'the answer is a message with an id');
  check(message.client_reference === 'contract-typescript', 'client_reference is echoed');

  const again = await messagesSend({ client, body: request, headers: { 'Idempotency-Key': key } });
  check(again.response.status === 200, `the same Idempotency-Key and body answer 200 (got ${again.response.status})`);
  check(again.data?.id === message.id, 'with the original message');

  // --8<-- [start:poll]
  let current: MessageView = message;
  const deadline = Date.now() + 30_000;
  while (current.status !== 'sent' && !['delivered', 'read', 'failed'].includes(current.status) && Date.now() < deadline) {
    await sleep(300);
    const got = await messagesGet({ client, path: { id: message.id } });
    check(got.data !== undefined, `messages.get answers a message (status ${got.response.status})`);
    current = got.data;
  }
  check(['sent', 'delivered', 'read'].includes(current.status), `the message reaches sent (status ${current.status})`);
  // --8<-- [end:poll]
  check(typeof current.meta_message_id === 'string' && current.meta_message_id.length > 0, "with Meta's message id");
  check(typeof current.sent_at === 'string' && current.sent_at.length > 0, 'with the time it was sent');
  check(current.statuses.some((s) => s.status === 'accepted'), "its history records Graph's acceptance");

  // 4. Typed errors: an unknown channel (404) and a validation error (422 with field/rule).
  const unknown = await messagesSend({
    client,
    body: { ...request, channel_id: 'ch_00000000000000000000000000000000', client_reference: undefined },
  });
  check(unknown.response.status === 404, `an unknown channel answers 404 (got ${unknown.response.status})`);
  const notFound: ErrorBody | undefined = unknown.error;
  check(notFound !== undefined && notFound.code.length > 0 && notFound.message.length > 0, `a typed error body with code and message (code ${notFound?.code})`);

  // --8<-- [start:errors]
  const invalid = await messagesSend({
    client,
    body: { ...request, message: { type: 'text', body: 'x'.repeat(5000) }, client_reference: undefined },
  });
  check(invalid.response.status === 422, `a 5000-character text answers 422 (got ${invalid.response.status})`);
  const err: ErrorBody | undefined = invalid.error;
  check(err !== undefined, 'with a typed error body');
  check(typeof err.field === 'string' && err.field.includes('body'), `field names the body (field ${err.field})`);
  check(typeof err.rule === 'string' && err.rule.length > 0, `rule says which limit (rule ${err.rule})`);
  // --8<-- [end:errors]

  // 5. Templates: the WhatsApp channel's templates as read from Meta (the simulator's account
  //    has none), and a template send checked against them before it is queued.
  const templates = await templatesList({ client, path: { id: CHANNEL_ID }, query: { status: 'APPROVED' } });
  check(templates.response.status === 200, `templates.list answers 200 (got ${templates.response.status})`);
  const page: TemplatePage | undefined = templates.data;
  check(page !== undefined && Array.isArray(page.templates), 'a typed TemplatePage');
  const unknownTemplate = await messagesSend({
    client,
    body: {
      channel_id: CHANNEL_ID,
      to: '+55 11 98888-7777',
      message: { type: 'template', name: 'no_such_template', language: 'pt_BR' },
    },
  });
  check(unknownTemplate.response.status === 422, `a template Meta does not have answers 422 (got ${unknownTemplate.response.status})`);
  const refusal: ErrorBody | undefined = unknownTemplate.error;
  check(refusal !== undefined && refusal.code === 'template_invalid', `code template_invalid (code ${refusal?.code})`);
  check(refusal.rule === 'template_not_found' && refusal.field === 'message.name', `rule template_not_found on message.name (rule ${refusal.rule})`);

  // 6. A contact profile: the Messenger contact wrote (scripts/contract.sh posted the webhook);
  //    the bridge reads the profile Meta allows in the background and returns it with the window.
  let contact: ContactWindow | undefined;
  let status = 0;
  for (let i = 0; i < 200; i++) {
    const got = await channelsContactWindow({ client, path: { id: MESSENGER_CHANNEL_ID, contact: CONTACT_PSID } });
    status = got.response.status;
    contact = got.data;
    if (status !== 200 || contact?.profile) break;
    await sleep(100);
  }
  check(status === 200, `channels.contact_window answers 200 (got ${status})`);
  check(contact !== undefined, 'a typed ContactWindow');
  check(contact.window_open === true, "the contact's window is open");
  check(contact.profile !== undefined, 'the profile was read from Meta');
  check(contact.profile.first_name === 'Bruno' && contact.profile.last_name === 'Lima', `first and last name (got ${contact.profile.first_name} ${contact.profile.last_name})`);

  console.log('typescript scenario: passed');
}

main().catch((e) => {
  console.error('typescript scenario: FAILED:', e);
  process.exit(1);
});
