"""Plain-text e-mail through a configured SMTP server (smtplib); no SMTP host means e-mail is off."""
from __future__ import annotations

import os
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

DEFAULT_BASE_URL = "http://127.0.0.1:5000"


@dataclass(frozen=True)
class Mailer:
    """Where and as whom govflow sends mail, and the address its links point at.

    Environment: GOVFLOW_SMTP_HOST (unset = e-mail off), GOVFLOW_SMTP_PORT (25), GOVFLOW_SMTP_FROM,
    GOVFLOW_SMTP_USER / GOVFLOW_SMTP_PASSWORD (optional login), GOVFLOW_SMTP_STARTTLS (1 to upgrade),
    GOVFLOW_BASE_URL (the inbox's public address, for links).
    """

    host: str | None = None
    port: int = 25
    sender: str = "govflow@localhost"
    base_url: str = DEFAULT_BASE_URL
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 10.0

    @classmethod
    def from_env(cls, env: dict | None = None) -> "Mailer":
        env = os.environ if env is None else env
        return cls(
            host=env.get("GOVFLOW_SMTP_HOST") or None,
            port=int(env.get("GOVFLOW_SMTP_PORT") or 25),
            sender=env.get("GOVFLOW_SMTP_FROM") or "govflow@localhost",
            base_url=(env.get("GOVFLOW_BASE_URL") or DEFAULT_BASE_URL).rstrip("/"),
            username=env.get("GOVFLOW_SMTP_USER") or None,
            password=env.get("GOVFLOW_SMTP_PASSWORD") or None,
            starttls=(env.get("GOVFLOW_SMTP_STARTTLS") or "") in ("1", "true", "yes"),
        )

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    def url(self, link: str | None) -> str | None:
        """An absolute address for a link stored relative to the inbox (`/tasks/<id>`)."""
        if not link:
            return None
        return link if "://" in link else f"{self.base_url}{link}"

    def send(self, to_address: str, to_name: str, subject: str, body: str) -> None:
        """Send one plain-text message; raises smtplib/OSError errors for the caller to record."""
        if not self.enabled:
            raise RuntimeError("e-mail is off: GOVFLOW_SMTP_HOST is not set")
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = formataddr((to_name, to_address))
        message["Subject"] = subject
        message["Message-ID"] = make_msgid(domain="govflow")
        message.set_content(body)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)
