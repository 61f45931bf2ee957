"""Accounts from single sign-on: the verified ID token's claims, mapped to roles by processes/sso.yaml, make or
update the person's account on each sign-in ("just in time"), audited as `user.signed_in` with the issuer.

An account is found by the provider's identity (issuer and `sub`) first; by its username only the first time, when
that identity is linked to it (audited as `user.sso_linked`). A username whose account is linked to another identity
is refused: a renamed or reused name at the provider never takes over someone else's account."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from engine.bpmn.safe_yaml import read_yaml
from engine.clock import Clock
from engine.errors import Forbidden, GovflowError
from engine.governance.policy import policy_of
from engine.services.accounts import Account, _account
from engine.services.identity import NewUser, add_user, find_user
from engine.store import audit
from engine.store.models import User, UserRole

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,79}$")


@dataclass(frozen=True)
class ClaimMapping:
    """processes/sso.yaml: which claim names the account, which lists its groups, and each group's roles."""

    username_claim: str = "preferred_username"
    roles_claim: str = "groups"
    roles: dict[str, list[str]] = field(default_factory=dict)
    default_roles: list[str] = field(default_factory=list)
    link_local_accounts: bool = False

    @classmethod
    def load(cls, path: Path | str) -> "ClaimMapping":
        data = read_yaml(path) or {}
        if not isinstance(data, dict) or not isinstance(data.get("roles", {}), dict):
            raise GovflowError(f"{Path(path).name}: expected username_claim, roles_claim and a roles mapping")
        return cls(str(data.get("username_claim", "preferred_username")), str(data.get("roles_claim", "groups")),
                   {str(k): [str(r) for r in (v or [])] for k, v in (data.get("roles") or {}).items()},
                   [str(r) for r in data.get("default_roles") or []], bool(data.get("link_local_accounts", False)))

    def roles_for(self, claims: dict[str, Any]) -> set[str]:
        groups = claims.get(self.roles_claim) or []
        groups = [groups] if isinstance(groups, str) else groups
        found = set(self.default_roles)
        for group in groups if isinstance(groups, list) else []:
            found.update(self.roles.get(str(group), []))
        return found


class SingleSignOn:
    """Sign-ins from the identity provider over one database and clock, with the claim mapping of a processes
    folder."""

    def __init__(self, db, clock: Clock, mapping_file: Path):
        self.db = db
        self.clock = clock
        self.mapping_file = mapping_file

    def mapping(self) -> ClaimMapping:
        return ClaimMapping.load(self.mapping_file)

    def sign_in(self, claims: dict[str, Any], issuer: str, address: str | None = None) -> Account:
        """The account for these verified claims: made on first sign-in, its name, e-mail and roles brought up to
        date on every one. Refused (Forbidden, audited) without a usable username, without any mapped role, for a
        deactivated account, or for a local account with a password unless the mapping links them."""
        mapping = self.mapping()
        username = str(claims.get(mapping.username_claim) or "")
        subject = str(claims.get("sub") or "")
        identity = f"{issuer}#{subject}"
        roles = mapping.roles_for(claims)
        now = self.clock.now()
        refusal = None
        if not subject or len(identity) > 1000:
            refusal = "The identity provider sent no usable subject ('sub')"
        elif not USERNAME.match(username):
            refusal = f"The identity provider sent no usable '{mapping.username_claim}'"
        elif not roles:
            refusal = "None of your groups gives you a role in govflow: ask an admin"
        with self.db.write() as session:
            user = linked = None
            if refusal is None:
                user = linked = session.scalar(select(User).where(User.oidc_subject == identity))
                username = user.username if user is not None else username
            if refusal is None and user is None:
                user = find_user(session, username)
                if user is not None and user.oidc_subject:
                    refusal = (f"The govflow account ‘{username}’ belongs to another person at the identity "
                               "provider: ask an admin")
            if refusal is None and user is not None:
                if not user.active:
                    refusal = "Your govflow account is deactivated"
                elif linked is None and user.password_hash and not mapping.link_local_accounts:
                    refusal = "A local account with this username exists: ask an admin to link it"
            if refusal is None:
                name = str(claims.get("name") or username)[:200]
                email = str(claims.get("email") or "")[:254]
                if user is None:
                    user = add_user(session, NewUser(username, name, email, "", tuple(sorted(roles))), now)
                    user.oidc_subject = identity
                    audit.record(session, now, "system", "user.created", username=username, roles=sorted(roles),
                                 source=issuer, subject=subject)
                elif linked is None:
                    user.oidc_subject = identity
                    audit.record(session, now, "system", "user.sso_linked", username=username, issuer=issuer,
                                 subject=subject)
                if user.role_ids != roles or user.display_name != name or user.email != email:
                    user.display_name, user.email = name, email
                    user.roles = [UserRole(role_id=r) for r in sorted(roles)]
                    audit.record(session, now, "system", "user.updated", username=username, roles=sorted(roles),
                                 source=issuer)
                session.flush()
                audit.record(session, now, username, "user.signed_in", ip=address, via="sso", issuer=issuer)
                capabilities = policy_of(session).capabilities(user)
                return _account(user, capabilities)
        with self.db.write() as session:
            audit.record(session, now, username[:80] or "anonymous", "user.sign_in_failed", ip=address, via="sso",
                         issuer=issuer, subject=subject[:255], reason=refusal)
        raise Forbidden(refusal)
