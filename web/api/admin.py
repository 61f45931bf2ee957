"""Administration (suspend, resume, terminate, retry a timer or an effect, move a token back; incidents) for whoever
may `administer`, and API tokens: my own, and service tokens for whoever may `integrate`."""
from __future__ import annotations

from apiflask import APIBlueprint

from engine.errors import Forbidden

from .access import caller, check_if_match, gov, instance_etag, needs
from .schemas import Done, Items, MoveBackBody, ReasonBody, Result, TokenBody, TokenMade, WebhookBody, WebhookMade
from .work import visible, writing

bp = APIBlueprint("admin", __name__, tag="Administration")
tokens = APIBlueprint("tokens", __name__, url_prefix="/tokens", tag="Tokens")
webhooks = APIBlueprint("webhooks", __name__, url_prefix="/webhooks", tag="Webhooks")


def _status_change(action: str, instance_id: int, reason: str) -> dict:
    with writing(instance_id):
        status = getattr(gov().admin, action)(instance_id, caller().username, reason)
    return {"status": status, "detail": f"instance {instance_id} {status}"}


@bp.post("/instances/<int:instance_id>/suspend")
@bp.input(ReasonBody, arg_name="body")
@bp.output(Done)
@needs("admin", "administer")
def suspend(instance_id: int, body: ReasonBody):
    """Suspend a running instance: its tasks and timers wait until it is resumed."""
    return _status_change("suspend", instance_id, body.reason)


@bp.post("/instances/<int:instance_id>/resume")
@bp.input(ReasonBody, arg_name="body")
@bp.output(Done)
@needs("admin", "administer")
def resume(instance_id: int, body: ReasonBody):
    return _status_change("resume", instance_id, body.reason)


@bp.post("/instances/<int:instance_id>/terminate")
@bp.input(ReasonBody, arg_name="body")
@bp.output(Done)
@needs("admin", "administer")
def terminate(instance_id: int, body: ReasonBody):
    """End an instance now: open tasks and timers are cancelled."""
    return _status_change("terminate", instance_id, body.reason)


@bp.get("/instances/<int:instance_id>/move-targets")
@bp.output(Items)
@needs("read", "administer")
def move_targets(instance_id: int):
    """The earlier user tasks a token may be moved back to."""
    found = visible(instance_id)
    check_if_match(lambda: instance_etag(found))
    return {"items": [dict(t.__dict__, available=t.available) for t in gov().admin.move_targets(instance_id)]}


@bp.post("/instances/<int:instance_id>/move-back")
@bp.input(MoveBackBody, arg_name="body")
@bp.output(Result)
@needs("admin", "administer")
def move_back(instance_id: int, body: MoveBackBody):
    """Move a stuck token back to an earlier user task (within the version's move-back window)."""
    with writing(instance_id):
        return gov().admin.move_back(instance_id, body.task_id, caller().username, body.reason).as_dict()


@bp.post("/timers/<int:timer_id>/retry")
@bp.input(ReasonBody, arg_name="body")
@bp.output(Done)
@needs("admin", "administer")
def retry_timer(timer_id: int, body: ReasonBody):
    """Put a failed timer back in the queue (its incident is closed)."""
    gov().retry_timer(timer_id, caller().username, body.reason)
    return {"status": "queued", "detail": f"timer {timer_id} will fire again"}


@bp.post("/effects/<int:effect_id>/retry")
@bp.input(ReasonBody, arg_name="body")
@bp.output(Done)
@needs("admin", "administer")
def retry_effect(effect_id: int, body: ReasonBody):
    """Put a failed outbox effect (a follow-up start, a notice, a webhook) back in the queue."""
    gov().retry_effect(effect_id, caller().username, body.reason)
    return {"status": "queued", "detail": f"effect {effect_id} will be delivered again"}


@bp.get("/incidents")
@bp.output(Items)
@needs("read", "administer")
def incidents():
    """What the system found wrong and an admin must look at (open ones)."""
    return {"items": gov().incidents()}


# --- tokens ---------------------------------------------------------------------------------------------------------


@tokens.get("")
@tokens.output(Items)
@needs("read")
def my_tokens():
    """My tokens and those I made (never their secrets)."""
    return {"items": gov().tokens.listing(caller().username)}


@tokens.post("")
@tokens.input(TokenBody, arg_name="body")
@tokens.output(TokenMade, status_code=201)
@needs("work")
def make_token(body: TokenBody):
    """Make a token (from a signed-in browser session only: a token never makes another). The secret is in the
    response, and never shown again."""
    if caller().via != "session":
        raise Forbidden("Tokens are made from a signed-in session (the browser or the CLI), not with a token")
    secret, made = gov().tokens.issue(caller().username, body.name, list(body.scopes), kind=body.kind,
                                      username=body.username, days=body.days, rate_limit=body.rate_limit)
    return dict(made, token=secret), 201


@tokens.delete("/<int:token_id>")
@tokens.output(Done)
@needs("read")
def revoke_token(token_id: int):
    """Revoke a token at once (mine, one made by me, or any for whoever may integrate)."""
    gov().tokens.revoke(token_id, caller().username, "revoked through the API")
    return {"status": "revoked", "detail": f"token {token_id} revoked"}


# --- webhooks -------------------------------------------------------------------------------------------------------


@webhooks.get("")
@webhooks.output(Items)
@needs("read", "integrate")
def list_webhooks():
    """Every subscription (never its secret)."""
    return {"items": gov().webhooks.listing(caller().username)}


@webhooks.post("")
@webhooks.input(WebhookBody, arg_name="body")
@webhooks.output(WebhookMade, status_code=201)
@needs("admin", "integrate")
def add_webhook(body: WebhookBody):
    """Subscribe a receiver to events; the response holds the signing secret, never shown again."""
    secret, made = gov().webhooks.add(caller().username, body.url, body.events)
    return dict(made, secret=secret), 201


@webhooks.delete("/<int:webhook_id>")
@webhooks.output(Done)
@needs("admin", "integrate")
def remove_webhook(webhook_id: int):
    gov().webhooks.remove(webhook_id, caller().username)
    return {"status": "removed", "detail": f"webhook {webhook_id} removed"}


@webhooks.post("/<int:webhook_id>/<any(disable, enable):action>")
@webhooks.output(Done)
@needs("admin", "integrate")
def switch_webhook(webhook_id: int, action: str):
    """Disable a subscription (nothing is sent to it meanwhile) or enable it again."""
    getattr(gov().webhooks, action)(webhook_id, caller().username)
    return {"status": f"{action}d", "detail": f"webhook {webhook_id} {action}d"}


@webhooks.post("/<int:webhook_id>/test")
@webhooks.output(Done, status_code=202)
@needs("admin", "integrate")
def test_webhook(webhook_id: int):
    """Queue a signed `webhook.test` event for this subscription; its delivery appears in the log."""
    effect_id = gov().webhooks.send_test(webhook_id, caller().username)
    return {"status": "queued", "detail": f"test event queued as effect {effect_id}"}, 202


@webhooks.get("/<int:webhook_id>/deliveries")
@webhooks.output(Items)
@needs("read", "integrate")
def webhook_deliveries(webhook_id: int):
    """The delivery log: every attempt, its answer and how long it took, newest first."""
    return {"items": gov().webhooks.deliveries(webhook_id, caller().username)}
