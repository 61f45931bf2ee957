"""How dates, deadlines and names are shown on pages: UK local time, working days left, plain labels."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app

from engine.calendar import ENGLAND_AND_WALES
from engine.services.attachments import size_text

LONDON = ZoneInfo("Europe/London")


def local(moment: datetime | str | None) -> datetime | None:
    if moment is None or moment == "":
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(LONDON)


def day_text(moment) -> str:
    """'2 December 2026': a date as it is, a date and time as the day it falls on in London."""
    if isinstance(moment, str) and len(moment) == 10:
        moment = date.fromisoformat(moment)
    value = moment if isinstance(moment, date) and not isinstance(moment, datetime) else local(moment)
    return f"{value.day} {value:%B %Y}" if value else ""


def moment_text(moment) -> str:
    value = local(moment)
    if value is None:
        return ""
    hour = value.strftime("%I:%M%p").lstrip("0").lower()
    return f"{value.day} {value:%B %Y} at {hour}"


def today() -> date:
    return current_app.extensions["govflow"].clock.now().astimezone(LONDON).date()


def deadline(due_at) -> dict | None:
    """{text, days, overdue} for a due moment: working days left from today (England and Wales)."""
    due = local(due_at)
    if due is None:
        return None
    now = current_app.extensions["govflow"].clock.now()
    days = ENGLAND_AND_WALES.working_days_between(today(), due.date())
    overdue = due < now
    if overdue:
        late = max(-days, 0)
        text = "due today" if late == 0 else f"{late} working day{'s' if late != 1 else ''} late"
    elif days == 0:
        text = "due today"
    else:
        text = f"{days} working day{'s' if days != 1 else ''} left"
    return {"text": text, "days": days, "overdue": overdue, "date": day_text(due)}


def humanise(name: str | None) -> str:
    """'in_consultation' → 'In consultation'; only the first letter changes, so 'with PSG' keeps its acronym."""
    text = (name or "").replace("_", " ").replace(".", " ").strip()
    return text[:1].upper() + text[1:]


def register_filters(app: Flask) -> None:
    app.jinja_env.filters.update(day=day_text, moment=moment_text, humanise=humanise, file_size=size_text)
    app.jinja_env.globals.update(deadline=deadline)
