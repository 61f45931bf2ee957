"""The one source of "now": a wall clock in production, a settable clock in tests, simulations and `--at`."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


class Clock:
    """Aware-UTC time source; `set` freezes it at a moment (tests, `--at`), `advance` moves a frozen clock."""

    def __init__(self, frozen_at: datetime | None = None):
        self._frozen_at = _as_utc(frozen_at) if frozen_at else None

    def now(self) -> datetime:
        return self._frozen_at or datetime.now(timezone.utc)

    def today(self) -> date:
        """The date in Europe/London now (the programme's calendar day)."""
        return london_date(self.now())

    def set(self, moment: datetime) -> None:
        self._frozen_at = _as_utc(moment)

    def advance(self, **delta) -> datetime:
        from datetime import timedelta
        self._frozen_at = self.now() + timedelta(**delta)
        return self._frozen_at

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: govflow needs a time zone (UTC is stored)")
    return moment.astimezone(timezone.utc)


def london_date(moment: datetime) -> date:
    """The Europe/London calendar date of an aware moment."""
    return moment.astimezone(LONDON).date()


def parse_moment(text: str) -> datetime:
    """Parse an ISO date or datetime given by a person; a missing zone means Europe/London."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LONDON)
    return moment.astimezone(timezone.utc)
