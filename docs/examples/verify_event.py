"""Receive a metabridge event: verify the bridge's JWT, then deduplicate on the event id.

The bridge POSTs each event to the instance's callback URL with
`Authorization: Bearer <JWT>`: iss = "metabridge", aud = the instance id, sub = the event id,
a 5-minute exp, a unique jti and body_sha256 = the lowercase hex SHA-256 of the exact body bytes
(check it over the raw bytes received, before parsing). It is HS256 with the instance's secret, or EdDSA with the
bridge's key when the operator configured one (public keys at /.well-known/jwks.json, the
header's `kid` names the key). Requires PyJWT (and `cryptography` for EdDSA).
"""

import hashlib
import json
import time
import uuid

import jwt  # PyJWT


# --8<-- [start:verify]
def verify_event(authorization: str, body: bytes, instance_id: str, secret: str | None = None,
                 jwks: dict | None = None) -> dict:
    """Returns the event when the token is the bridge's and binds this very body; raises otherwise.

    `body` is the raw request body, the bytes as received (never a re-serialized JSON)."""
    scheme, _, token = authorization.partition(" ")
    if scheme != "Bearer" or not token:
        raise PermissionError("no bearer token")
    alg = jwt.get_unverified_header(token).get("alg")
    if alg == "HS256" and secret:
        key = secret
    elif alg == "EdDSA" and jwks:
        kid = jwt.get_unverified_header(token).get("kid")
        key = jwt.PyJWKSet.from_dict(jwks)[kid].key  # KeyError: unknown kid → refresh the JWKS once
    else:
        raise PermissionError(f"unexpected algorithm {alg!r}")
    claims = jwt.decode(
        token, key, algorithms=[alg],  # never let the token choose among several algorithms
        audience=instance_id, issuer="metabridge",
        options={"require": ["exp", "iat", "sub", "jti", "body_sha256"]},
    )
    # The token binds the body: the SHA-256 of the bytes received must be the signed one.
    if claims["body_sha256"] != hashlib.sha256(body).hexdigest():
        raise PermissionError("the body is not the one the token was signed for")
    event = json.loads(body)
    if event.get("id") != claims["sub"] or event.get("instance_id") != instance_id:
        raise PermissionError("the token was minted for another event")
    return event


class Deduplicator:
    """Remembers event ids already stored (use your database: a unique key on the event id)."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def first_time(self, event_id: str) -> bool:
        if event_id in self._seen:
            return False
        self._seen.add(event_id)
        return True


def handle(headers: dict, body: bytes, dedup: Deduplicator, **keys) -> int:
    """The callback handler: the HTTP status to answer."""
    try:
        event = verify_event(headers.get("Authorization", ""), body, **keys)
    except (jwt.PyJWTError, PermissionError, KeyError, ValueError):
        return 401
    if dedup.first_time(event["id"]):
        pass  # store / process the event here, then answer 2xx
    return 200  # a duplicate (a retry after a lost answer) is acknowledged, not processed again
# --8<-- [end:verify]


# --- a sample delivery, signed the way the bridge signs it -------------------------------------
def sample_delivery(instance_id: str, sign) -> tuple[dict, bytes]:
    event_id = "evt_" + uuid.uuid4().hex
    body = json.dumps({
        "id": event_id, "type": "message.received", "instance_id": instance_id,
        "channel": {"id": "ch_demo", "kind": "whatsapp", "external_id": "106000000000001"},
        "conversation_id": "conv_demo", "contact": {"id": "5511988887777"},
        "occurred_at": "2025-01-01T12:00:00Z", "received_at": "2025-01-01T12:00:01Z",
        "data": {"type": "text", "text": "Oi!"}, "raw": {},
    }).encode()
    now = int(time.time())
    claims = {"iss": "metabridge", "aud": instance_id, "sub": event_id, "iat": now,
              "exp": now + 300, "jti": uuid.uuid4().hex, "body_sha256": hashlib.sha256(body).hexdigest()}
    headers = {"Authorization": "Bearer " + sign(claims), "X-Metabridge-Event-Id": event_id,
               "X-Metabridge-Event-Type": "message.received", "X-Metabridge-Attempt": "1"}
    return headers, body


def main() -> None:
    instance_id, secret = "ins_demo", "the-instance-secret-shown-once-at-creation"
    dedup = Deduplicator()

    # HS256 with the instance secret.
    headers, body = sample_delivery(instance_id, lambda c: jwt.encode(c, secret, algorithm="HS256"))
    assert handle(headers, body, dedup, instance_id=instance_id, secret=secret) == 200
    assert not dedup.first_time(json.loads(body)["id"]), "the event is remembered"
    assert handle(headers, body, dedup, instance_id=instance_id, secret=secret) == 200  # retry: acknowledged
    assert handle(headers, body, dedup, instance_id=instance_id, secret="a-wrong-secret-that-is-long-enough-too") == 401
    assert handle(headers, body, dedup, instance_id="ins_other", secret=secret) == 401
    other_headers, other_body = sample_delivery(instance_id, lambda c: jwt.encode(c, secret, algorithm="HS256"))
    assert handle(headers, other_body, dedup, instance_id=instance_id, secret=secret) == 401  # token of another event
    altered = body.replace(b"Oi!", b"Ol\xc3\xa1")  # same event id, content altered in transit
    assert altered != body
    assert handle(headers, altered, dedup, instance_id=instance_id, secret=secret) == 401  # body_sha256 differs
    assert handle(headers, body + b" ", dedup, instance_id=instance_id, secret=secret) == 401  # even whitespace
    claims = jwt.decode(headers["Authorization"][7:], secret, algorithms=["HS256"], audience=instance_id)
    del claims["body_sha256"]
    unbound = {**headers, "Authorization": "Bearer " + jwt.encode(claims, secret, algorithm="HS256")}
    assert handle(unbound, body, dedup, instance_id=instance_id, secret=secret) == 401  # no body_sha256

    # EdDSA with the bridge's key, looked up by kid in its JWKS.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    private = Ed25519PrivateKey.generate()
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(private.public_key()))
    jwks = {"keys": [{**jwk, "kid": "bridge-key-1", "alg": "EdDSA", "use": "sig"}]}
    sign = lambda c: jwt.encode(c, private, algorithm="EdDSA", headers={"kid": "bridge-key-1"})
    headers, body = sample_delivery(instance_id, sign)
    assert handle(headers, body, dedup, instance_id=instance_id, jwks=jwks) == 200
    assert handle(headers, body, dedup, instance_id=instance_id, secret=secret) == 401  # no JWKS given
    assert handle(headers, body + b"\n", dedup, instance_id=instance_id, jwks=jwks) == 401  # body altered

    print("verify_event.py: HS256 and EdDSA events verified, duplicates, forgeries and altered bodies handled")


if __name__ == "__main__":
    main()
