"""The generated Python client against the running service (run by scripts/contract.sh).

Environment: BRIDGE_URL, INSTANCE_ID, INSTANCE_SECRET, CHANNEL_ID, CALLBACK_URL, MESSENGER_CHANNEL_ID,
CONTACT_PSID (a Messenger contact who wrote; the simulator holds their profile).
Only the generated client talks to the service; the instance JWT is minted with PyJWT.
Exits non-zero on the first assertion that fails.
"""

import os
import sys
import time
import uuid
from urllib.parse import urlsplit

import jwt

from metabridge_client import AuthenticatedClient
from metabridge_client.types import Unset
from metabridge_client.api.channels import channels_contact_window, channels_list, templates_list
from metabridge_client.api.connect import connect_sessions_create, connect_sessions_get
from metabridge_client.api.messages import messages_get, messages_send
from metabridge_client.models import (
    ChannelKindApi,
    ChannelView,
    ConnectSessionView,
    ContactWindow,
    CreateConnectSession,
    ErrorBody,
    MessageView,
    OutboundMessageTemplateMessage,
    OutboundMessageTemplateMessageType,
    OutboundMessageTextMessage,
    OutboundMessageTextMessageType,
    SendMessageRequest,
    TemplatePage,
)

BRIDGE_URL = os.environ["BRIDGE_URL"]
INSTANCE_ID = os.environ["INSTANCE_ID"]
INSTANCE_SECRET = os.environ["INSTANCE_SECRET"]
CHANNEL_ID = os.environ["CHANNEL_ID"]
CALLBACK_URL = os.environ["CALLBACK_URL"]
MESSENGER_CHANNEL_ID = os.environ["MESSENGER_CHANNEL_ID"]
CONTACT_PSID = os.environ["CONTACT_PSID"]


# --8<-- [start:jwt]
def instance_jwt(lifetime_secs: int = 300) -> str:
    """An instance token: HS256 with the instance secret, iss = instance id, aud = metabridge."""
    now = int(time.time())
    claims = {"iss": INSTANCE_ID, "aud": "metabridge", "iat": now, "exp": now + lifetime_secs}
    return jwt.encode(claims, INSTANCE_SECRET, algorithm="HS256")
# --8<-- [end:jwt]


def check(condition: bool, what: str) -> None:
    if not condition:
        print(f"python scenario: FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"  ok  {what}")


def main() -> None:
    # --8<-- [start:client]
    client = AuthenticatedClient(base_url=BRIDGE_URL, token=instance_jwt(), timeout=30.0)
    # --8<-- [end:client]

    # 1. A connect session for WhatsApp, returning to the callback URL's origin; read it back.
    # --8<-- [start:connect]
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(CALLBACK_URL))
    return_url = f"{origin}/settings/channels"
    created = connect_sessions_create.sync_detailed(
        client=client,
        body=CreateConnectSession(kind=ChannelKindApi.WHATSAPP, return_url=return_url, locale="en"),
    )
    # --8<-- [end:connect]
    check(created.status_code == 201, f"connect_sessions.create answers 201 (got {created.status_code})")
    session = created.parsed
    check(isinstance(session, ConnectSessionView), "the answer is a ConnectSessionView")
    check(session.state == "pending", "the new session is pending")
    check(session.kind == ChannelKindApi.WHATSAPP, "its kind is whatsapp")
    check(isinstance(session.url, str) and "/connect/" in session.url, "it carries the one-time connect url")
    check(session.return_url == return_url, "it keeps the return url")

    read = connect_sessions_get.sync_detailed(session.id, client=client)
    check(read.status_code == 200, f"connect_sessions.get answers 200 (got {read.status_code})")
    check(isinstance(read.parsed, ConnectSessionView) and read.parsed.id == session.id, "reads the same session back")
    check(read.parsed.state == "pending", "still pending")
    check(not isinstance(read.parsed.url, str), "the url is shown only once (absent when read back)")

    # 2. The instance's channels.
    listed = channels_list.sync_detailed(client=client)
    check(listed.status_code == 200, f"channels.list answers 200 (got {listed.status_code})")
    channels = listed.parsed
    check(isinstance(channels, list) and all(isinstance(c, ChannelView) for c in channels), "a list of ChannelView")
    mine = [c for c in channels if c.id == CHANNEL_ID]
    check(len(mine) == 1, "the WhatsApp channel is listed")
    check(mine[0].kind == "whatsapp" and mine[0].status == "active", "active whatsapp channel")

    # 3. Send a text (no open window with this contact: ignore_window), idempotently.
    # --8<-- [start:send]
    key = str(uuid.uuid4())
    request = SendMessageRequest(
        channel_id=CHANNEL_ID,
        to="+55 11 98888-7777",
        message=OutboundMessageTextMessage(type_=OutboundMessageTextMessageType.TEXT, body="Hello from the Python SDK"),
        ignore_window=True,
        client_reference="contract-python",
    )
    sent = messages_send.sync_detailed(client=client, body=request, idempotency_key=key, wait=5)
    # --8<-- [end:send]
    check(sent.status_code == 202, f"messages.send answers 202 (got {sent.status_code})")
    message = sent.parsed
    check(isinstance(message, MessageView) and message.id, "the answer is a MessageView with an id")
    check(message.client_reference == "contract-python", "client_reference is echoed")

    again = messages_send.sync_detailed(client=client, body=request, idempotency_key=key)
    check(again.status_code == 200, f"the same Idempotency-Key and body answer 200 (got {again.status_code})")
    check(isinstance(again.parsed, MessageView) and again.parsed.id == message.id, "with the original message")

    deadline = time.monotonic() + 30
    status = message.status
    while status != "sent" and time.monotonic() < deadline:
        got = messages_get.sync_detailed(message.id, client=client)
        if got.status_code != 200:
            check(False, f"messages.get answers 200 (got {got.status_code})")
        status = got.parsed.status
        if status in ("delivered", "read", "failed"):
            break
        time.sleep(0.3)
    final = messages_get.sync_detailed(message.id, client=client).parsed
    check(isinstance(final, MessageView), "messages.get gives a MessageView")
    check(final.status in ("sent", "delivered", "read"), f"the message reaches sent (status {final.status})")
    check(isinstance(final.meta_message_id, str) and final.meta_message_id, "with Meta's message id")
    check(isinstance(final.sent_at, str) and final.sent_at, "with the time it was sent")
    check(any(s.status == "accepted" for s in final.statuses), "its history records Graph's acceptance")

    # 4. Typed errors: an unknown channel (404) and a validation error (422 with field/rule).
    unknown = messages_send.sync_detailed(
        client=client,
        body=SendMessageRequest(
            channel_id="ch_00000000000000000000000000000000",
            to="+55 11 98888-7777",
            message=OutboundMessageTextMessage(type_=OutboundMessageTextMessageType.TEXT, body="hi"),
            ignore_window=True,
        ),
    )
    check(unknown.status_code == 404, f"an unknown channel answers 404 (got {unknown.status_code})")
    check(isinstance(unknown.parsed, ErrorBody), "with a typed ErrorBody")
    check(bool(unknown.parsed.code) and bool(unknown.parsed.message), f"code and message set (code {unknown.parsed.code})")

    # --8<-- [start:errors]
    invalid = messages_send.sync_detailed(
        client=client,
        body=SendMessageRequest(
            channel_id=CHANNEL_ID,
            to="+55 11 98888-7777",
            message=OutboundMessageTextMessage(type_=OutboundMessageTextMessageType.TEXT, body="x" * 5000),
            ignore_window=True,
        ),
    )
    check(invalid.status_code == 422, f"a 5000-character text answers 422 (got {invalid.status_code})")
    err = invalid.parsed
    check(isinstance(err, ErrorBody), "with a typed ErrorBody")
    check(isinstance(err.field, str) and "body" in err.field, f"field names the body (field {err.field!r})")
    check(isinstance(err.rule, str) and err.rule != "", f"rule says which limit (rule {err.rule!r})")
    # --8<-- [end:errors]

    # 5. Templates: the WhatsApp channel's templates as read from Meta (the simulator's account
    #    has none), and a template send checked against them before it is queued.
    templates = templates_list.sync_detailed(client=client, id=CHANNEL_ID, status="APPROVED")
    check(templates.status_code == 200, f"templates.list answers 200 (got {templates.status_code})")
    check(isinstance(templates.parsed, TemplatePage), "a typed TemplatePage")
    refused = messages_send.sync_detailed(
        client=client,
        body=SendMessageRequest(
            channel_id=CHANNEL_ID,
            to="+55 11 98888-7777",
            message=OutboundMessageTemplateMessage(
                type_=OutboundMessageTemplateMessageType.TEMPLATE, name="no_such_template", language="pt_BR"
            ),
        ),
    )
    check(refused.status_code == 422, f"a template Meta does not have answers 422 (got {refused.status_code})")
    refusal = refused.parsed
    check(isinstance(refusal, ErrorBody) and refusal.code == "template_invalid", "a typed ErrorBody, code template_invalid")
    check(refusal.rule == "template_not_found" and refusal.field == "message.name", f"rule template_not_found (rule {refusal.rule!r})")

    # 6. A contact profile: the Messenger contact wrote (scripts/contract.sh posted the webhook);
    #    the bridge reads the profile Meta allows in the background and returns it with the window.
    for _ in range(200):
        got = channels_contact_window.sync_detailed(client=client, id=MESSENGER_CHANNEL_ID, contact=CONTACT_PSID)
        contact = got.parsed
        if got.status_code != 200 or (isinstance(contact, ContactWindow) and not isinstance(contact.profile, Unset)):
            break
        time.sleep(0.1)
    check(got.status_code == 200, f"channels.contact_window answers 200 (got {got.status_code})")
    check(isinstance(contact, ContactWindow), "a typed ContactWindow")
    check(contact.window_open is True, "the contact's window is open")
    profile = contact.profile
    check(not isinstance(profile, Unset) and profile is not None, "the profile was read from Meta")
    check(profile.first_name == "Bruno" and profile.last_name == "Lima", f"first and last name (got {profile.first_name!r} {profile.last_name!r})")

    print("python scenario: passed")


if __name__ == "__main__":
    main()
