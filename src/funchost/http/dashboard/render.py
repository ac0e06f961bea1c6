"""The dashboard's HTML, rendered on the server: the page, and one fragment per section that
the live stream replaces. Every value is escaped; controls carry labels naming what they act
on, so a screen reader (and a keyboard user) knows which row a button belongs to."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from html import escape
from importlib import resources

from funchost.http.dashboard.model import FunctionRow, Snapshot, SourceRow, TimerRow
from funchost.ops.jobs import Job
from funchost.ops.letters import Letter

BASE = "/admin/dashboard"
SECTIONS = ("functions", "jobs", "queues", "timers")


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def template(name: str) -> str:
    return resources.files("funchost.http.dashboard").joinpath("static", name).read_text("utf-8")


def page(snapshot: Snapshot | None, title: str) -> str:
    """The whole page: the sign-in form when `snapshot` is None, else every section."""
    if snapshot is None:
        body = template("login.html")
    else:
        body = template("board.html").format(
            header=header(snapshot), **{name: section(name, snapshot) for name in SECTIONS}
        )
    return template("page.html").format(title=_e(title), base=BASE, body=body)


def header(snapshot: Snapshot) -> str:
    return (
        f'<p class="host">Host <code>{_e(snapshot.host_id)}</code> · instance '
        f"<code>{_e(snapshot.instance_id)}</code> · state <strong>{_e(snapshot.state)}</strong>"
        f' · updated <time data-now="1">{time.strftime("%H:%M:%S")}</time></p>'
    )


def section(name: str, snapshot: Snapshot) -> str:
    renderers: dict[str, Callable[[Snapshot], str]] = {
        "functions": lambda s: functions(s.functions),
        "jobs": _jobs_section,
        "queues": _queues_section,
        "timers": lambda s: timers(s.timers),
    }
    return renderers[name](snapshot)


def _note(text: str | None) -> str:
    return f'<p class="note" role="note">{_e(text)}</p>' if text else ""


# -- functions --------------------------------------------------------------------------


def functions(rows: Iterable[FunctionRow]) -> str:
    body = "".join(_function(r) for r in rows)
    return _table(
        "Functions, their triggers and recent invocations",
        ("Function", "Trigger", "State", "Runs (ok / failed)", "Recent invocations", "Run now"),
        body or _empty(6, "No functions loaded."),
    )


def _function(row: FunctionRow) -> str:
    runs = "".join(
        f'<li class="{"ok" if r.ok else "failed"}">'
        f'<span class="outcome">{"Succeeded" if r.ok else "Failed"}</span> '
        f'{r.duration_ms:.0f} ms · <time datetime="{_iso(r.started)}">{_clock(r.started)}</time>'
        + (f'<br><span class="error">{_e(r.error)}</span>' if r.error else "")
        + "</li>"
        for r in row.recent
    )
    state = f'<span class="state {row.state}">{_e(row.state)}</span>'
    if row.running:
        state += f" ({row.running} running)"
    if row.error:
        state += f'<br><span class="error">{_e(row.error)}</span>'
    return (
        f'<tr><th scope="row">{_e(row.name)}</th>'
        f"<td>{_e(row.trigger)}<br><code>{_e(row.detail)}</code></td>"
        f"<td>{state}</td><td>{row.succeeded} / {row.failed}</td>"
        f'<td><ul class="runs">{runs or "<li>none yet</li>"}</ul></td>'
        f"<td>{_run_form(row) if row.can_run else ''}</td></tr>"
    )


def _run_form(row: FunctionRow) -> str:
    name = _e(row.name)
    field = f"run-input-{name}"
    return (
        f'<form method="post" action="{BASE}/actions/run" data-confirm="Run {name} now?">'
        f'<input type="hidden" name="function" value="{name}">'
        f'<label for="{field}">Input for {name}</label>'
        f'<input id="{field}" name="input" type="text" autocomplete="off">'
        f'<button type="submit" data-key="run:{name}" aria-label="Run {name} now">Run now'
        "</button></form>"
    )


# -- jobs ----------------------------------------------------------------------------------


def _jobs_section(snapshot: Snapshot) -> str:
    note = _note(snapshot.notes.get("jobs"))
    if snapshot.jobs is None:
        return note
    return note + jobs(snapshot.jobs)


def jobs(rows: Iterable[Job]) -> str:
    body = "".join(_job(r) for r in rows)
    return _table(
        "Jobs from the status store (the last day, most recently changed first)",
        ("Job", "Kind", "State", "Progress", "Attempt", "Latest", "Updated"),
        body or _empty(7, "No jobs in the last day."),
    )


def _job(row: Job) -> str:
    label = f"Progress of job {row.job_id}"
    total = f"{row.done} / {row.total}" if row.total else "—"
    latest = _e(row.message) + (
        f'<br><span class="error">{_e(row.error)}</span>' if row.error else ""
    )
    return (
        f'<tr data-job="{_e(row.job_id)}"><th scope="row"><code>{_e(row.job_id)}</code></th>'
        f"<td>{_e(row.kind)}</td>"
        f'<td><span class="state {_e(row.state.lower())}">{_e(row.state)}</span></td>'
        f'<td><progress max="100" value="{row.progress}" aria-label="{_e(label)}">'
        f'{row.progress}%</progress> <span class="count">{total}</span></td>'
        f"<td>{row.attempt}</td><td>{latest}</td><td>{_moment(row.updated)}</td></tr>"
    )


# -- queues, poison and dead letters ----------------------------------------------------------


def _queues_section(snapshot: Snapshot) -> str:
    return _note(snapshot.notes.get("sources")) + queues(snapshot.sources)


def queues(rows: Iterable[SourceRow]) -> str:
    rows = list(rows)
    body = "".join(_source(r) for r in rows)
    table = _table(
        "Queues and Service Bus entities, with their poison and dead-letter queues",
        ("Queue or entity", "Read by", "Waiting", "Poison / dead-lettered", ""),
        body or _empty(5, "No queue, blob or Service Bus triggers."),
    )
    return table + "".join(_letters(r) for r in rows if r.letters)


def _count(value: int | None, unknown: str = "—") -> str:
    return unknown if value is None else str(value)


def _source(row: SourceRow) -> str:
    kind = {"queue": "Storage queue", "blob": "Blob trigger queue", "servicebus": "Service Bus"}
    unknown = "— (session entity: not counted)" if row.kind == "servicebus" else "—"
    failed = (
        f"<strong>{_count(row.failed)}</strong> in <code>{_e(row.failed_entity)}</code>"
        if row.failed_entity
        else "none (a poison queue has no poison queue of its own)"
    )
    return (
        f'<tr><th scope="row">{_e(row.entity)}<br><span class="kind">{kind[row.kind]}</span></th>'
        f"<td>{_e(', '.join(row.functions))}</td>"
        f"<td>{_count(row.active, unknown)}</td><td>{failed}</td>"
        f"<td>{_note(row.note)}{_bulk(row) if row.letters else ''}</td></tr>"
    )


def _action(
    action: str, row: SourceRow, message_id: str | None, label: str, confirm: str, text: str
) -> str:
    hidden = f'<input type="hidden" name="source" value="{_e(row.source)}">'
    if row.connection:
        hidden += f'<input type="hidden" name="connection" value="{_e(row.connection)}">'
    if message_id is not None:
        hidden += f'<input type="hidden" name="message" value="{_e(message_id)}">'
    key = f"{action}:{row.source}:{message_id or '*'}"
    return (
        f'<form method="post" action="{BASE}/actions/{action}" data-confirm="{_e(confirm)}">'
        f'{hidden}<button type="submit" class="{action}" data-key="{_e(key)}" '
        f'aria-label="{_e(label)}">{text}</button></form>'
    )


def _bulk(row: SourceRow) -> str:
    where = row.failed_entity or row.entity
    return _action(
        "replay",
        row,
        None,
        f"Replay every message in {where}",
        f"Replay every message in {where} to {row.entity}?",
        "Replay all",
    ) + _action(
        "purge",
        row,
        None,
        f"Purge every message in {where}",
        f"Delete every message in {where}? This cannot be undone.",
        "Purge all",
    )


def _letters(row: SourceRow) -> str:
    where = row.failed_entity or row.entity
    items = "".join(_letter(row, letter, where) for letter in row.letters)
    return (
        f'<table class="letters"><caption>Messages in {_e(where)} (first {len(row.letters)})'
        '</caption><thead><tr><th scope="col">Message</th><th scope="col">Job</th>'
        '<th scope="col">Reason</th><th scope="col">Body</th><th scope="col">Actions</th>'
        f"</tr></thead><tbody>{items}</tbody></table>"
    )


def _letter(row: SourceRow, letter: Letter, where: str) -> str:
    mid = letter.message_id
    return (
        f'<tr data-message="{_e(mid)}"><th scope="row"><code>{_e(mid)}</code><br>'
        f"<small>{_moment(letter.enqueued)}</small></th>"
        f"<td><code>{_e(letter.job_id)}</code></td>"
        f"<td>{_e(letter.reason or letter.description)}</td>"
        f"<td><code>{_e(letter.preview)}</code></td><td>"
        + _action(
            "replay",
            row,
            mid,
            f"Replay message {mid} from {where}",
            f"Replay message {mid} to {row.entity}?",
            "Replay",
        )
        + _action(
            "purge",
            row,
            mid,
            f"Purge message {mid} from {where}",
            f"Delete message {mid} from {where}? This cannot be undone.",
            "Purge",
        )
        + "</td></tr>"
    )


# -- timers --------------------------------------------------------------------------------


def timers(rows: Iterable[TimerRow]) -> str:
    body = "".join(_timer(r) for r in rows)
    return _table(
        "Timers: schedule, last and next run, and who holds the lock",
        ("Timer", "Schedule", "Last run", "Next run", "Lock holder"),
        body or _empty(5, "No timer triggers."),
    )


def _timer(row: TimerRow) -> str:
    if not row.leased:
        holder = "nobody (free)"
    elif row.mine:
        holder = f'<span title="{_e(row.holder)}">this instance</span>'
    else:
        holder = f"<code>{_e(row.holder or 'another instance (unnamed)')}</code>"
    return (
        f'<tr><th scope="row">{_e(row.name)}</th><td><code>{_e(row.schedule)}</code></td>'
        f"<td>{_utc(row.last) if row.last else 'never'}</td>"
        f"<td>{_utc(row.next) if row.next else '—'}{_note(row.note)}</td>"
        f"<td>{holder}</td></tr>"
    )


def _utc(text: str) -> str:
    """A status blob's time, to the second in UTC (as written when it does not parse)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return _e(text)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    shown = moment.strftime("%Y-%m-%d %H:%M:%S")
    return f'<time datetime="{_e(text)}">{shown}Z</time>'


# -- helpers -------------------------------------------------------------------------------


def _table(caption: str, columns: tuple[str, ...], body: str) -> str:
    head = "".join(f'<th scope="col">{_e(c)}</th>' for c in columns)
    return (
        f"<table><caption>{_e(caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def _empty(columns: int, text: str) -> str:
    return f'<tr><td colspan="{columns}">{_e(text)}</td></tr>'


def _clock(epoch: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(epoch))


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + "Z"


def _moment(value: datetime | None) -> str:
    if value is None:
        return "—"
    text = value.astimezone().strftime("%H:%M:%S")
    return f'<time datetime="{_e(value.isoformat())}">{text}</time>'
