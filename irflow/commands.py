"""`/irflow …` commands: one parser and dispatcher for Slack slash commands, Slack buttons and Jira comments.

    status|run|approve|reject|undo|resolve|false-positive|assign|runbook|help

The caller has already authenticated the request and names the principal (``slack:U…``, ``jira:…``); each
command checks that principal's role itself (through decisions, lifecycle and rbac, which audit refusals).
Every answer is SafeText, so whatever a user typed is defanged before it is echoed into Slack or Jira, and
every expected failure (not allowed, wrong state, unknown id) is an answer rather than an exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import select

from irflow import audit, decisions, incidents, lifecycle, orchestrate, outbox, rbac, workspace_slack
from irflow.connectors.errors import ConnectorError
from irflow.models import utcnow
from irflow.playbook import PlaybookError
from irflow.redaction import SafeText, compose, redact, trusted
from irflow.runbook import RunbookError
from irflow.runtime import Runtime
from irflow.slack_blocks import lines
from irflow.store.tables import IncidentRow, RunbookProgressRow

INCIDENT_ID = re.compile(r"^inc-[A-Za-z0-9]{4,40}$")
ACTION_ID = re.compile(r"^act-[A-Za-z0-9]{4,40}$")
STEP_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,119}$")
_SLACK_USER = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
MAX_TEXT = 2000

HELP = trusted(
    "*irflow commands* (in an incident channel the incident id can be left out)\n"
    "`status [incident]` the incident, its actions and what waits for approval\n"
    "`run <playbook> [incident]` run a playbook now\n"
    "`approve <action>` / `reject <action> [reason]` decide a step waiting for approval\n"
    "`undo <action>` run the inverse of a done action\n"
    "`resolve [incident] [note]` resolve the incident\n"
    "`false-positive [incident] <reason>` undo every containment and resolve\n"
    "`assign [incident] <user>` assign a responder\n"
    "`runbook [incident]` post the runbook checklist again; `runbook done <step> [incident]` tick a step\n"
    "`help` this text"
)
VERBS = frozenset({"status", "run", "approve", "reject", "undo", "resolve", "false-positive", "assign", "runbook",
                   "help"})


class CommandError(ValueError):
    """The text is not a command irflow understands; the message says how to write it."""


@dataclass(frozen=True)
class Command:
    """A parsed command: the verb, the incident it is about (if any) and the remaining words."""

    verb: str
    incident_id: str | None
    args: list[str] = field(default_factory=list)


def parse(text: str, incident_id: str | None = None) -> Command:
    """Split `text` into a command; an incident id anywhere in it overrides the context's `incident_id`."""
    if len(text) > MAX_TEXT:
        raise CommandError(f"command longer than {MAX_TEXT} characters")
    words = text.split()  # no quoting rules: a reason like "it's fine" must not be a syntax error
    if words and words[0].lower() in {"/irflow", "irflow"}:  # Jira comments quote the slash command
        words = words[1:]
    if not words:
        return Command("help", incident_id)
    verb, rest = words[0].lower(), words[1:]
    if verb not in VERBS:
        raise CommandError(f"unknown command {verb!r}; try `help`")
    ids = [w for w in rest if INCIDENT_ID.match(w)]
    if len(ids) > 1:
        raise CommandError("name one incident at a time")
    return Command(verb, ids[0] if ids else incident_id, [w for w in rest if w not in ids])


def dispatch(rt: Runtime, principal: str, text: str, incident_id: str | None) -> SafeText:
    """Run one command as `principal` and say what happened; every expected failure is the answer, not a raise.

    Args:
        rt: The process's runtime (database, settings, connectors, playbooks).
        principal: Who asks, already authenticated by the caller (``slack:U…``, ``jira:…``).
        text: The command line without the ``/irflow`` prefix.
        incident_id: The incident the conversation is about (the Slack channel's, the Jira issue's), if any.
    """
    try:
        command = parse(text, incident_id)
        return _HANDLERS[command.verb](rt, principal, command)
    except rbac.Forbidden as exc:
        return compose("Not allowed: {why}", why=_say(exc))
    except (CommandError, decisions.DecisionError, lifecycle.TransitionError, incidents.IncidentNotFound,
            PlaybookError, RunbookError) as exc:
        return compose("{why}", why=_say(exc))
    except ConnectorError as exc:
        return compose("Failed: {why}. What was decided is recorded; the action shows the error.", why=_say(exc))


def _say(exc: BaseException) -> SafeText:
    message = exc.args[0] if isinstance(exc, LookupError) and exc.args else str(exc)
    return redact(message, max_len=600, pii=False)


def _incident(command: Command) -> str:
    if command.incident_id is None:
        raise CommandError(f"`{command.verb}` needs an incident id (inc-…) outside an incident channel")
    return command.incident_id


def _action_arg(command: Command) -> str:
    if not command.args or not ACTION_ID.match(command.args[0]):
        raise CommandError(f"`{command.verb}` needs an action id (act-…); `status` lists them")
    return command.args[0]


def _ident(value: object) -> SafeText:
    return redact(value, max_len=200, pii=False)


# --- the commands -----------------------------------------------------------------------------------------------


def _help(rt: Runtime, principal: str, command: Command) -> SafeText:
    return HELP


def _status(rt: Runtime, principal: str, command: Command) -> SafeText:
    incident_id = _incident(command)
    rbac.require(rt.db, rt.settings, principal, "view", incident_id)
    with rt.db.tx() as s:
        row = incidents.get(s, incident_id)
        actions = incidents.actions_of(s, incident_id)
    head = compose("*{id}* [{sev}] {title}: *{status}*", id=_ident(row.id), sev=_ident(row.severity.upper()),
                   title=redact(row.title, max_len=200), status=_ident(row.status))
    body = [compose("`{id}` {name} on {target}: {status}", id=_ident(a.id), name=_ident(a.name),
                    target=redact(a.target, max_len=200), status=_ident(a.status)) for a in actions[-15:]]
    waiting = [a.id for a in actions if a.status == "awaiting_approval"]
    if waiting:
        body.append(compose("Waiting for approval: {ids} (`approve <id>` or `reject <id>`)",
                            ids=_ident(", ".join(waiting))))
    return lines(head, *(body or [trusted("No actions yet.")]))


def _run(rt: Runtime, principal: str, command: Command) -> SafeText:
    if not command.args:
        raise CommandError("`run` needs a playbook name; `irflow playbooks list` shows them")
    incident_id = _incident(command)
    from irflow.manual_run import run  # imports the normalizers; only this command needs them

    view = run(rt, command.args[0], incident_id, None, False, principal)
    return compose("Ran playbook {name} on {id}: the incident is {status}.", name=_ident(command.args[0]),
                   id=_ident(incident_id), status=_ident(view["status"]))


def _approve(rt: Runtime, principal: str, command: Command) -> SafeText:
    action_id = _action_arg(command)
    incident_id = decisions.approve(rt.db, rt.settings, action_id, principal)
    status = orchestrate.respond(rt, incident_id)
    return compose("Approved {act}; the playbook ran again and {id} is {status}.", act=_ident(action_id),
                   id=_ident(incident_id), status=_ident(status or _status_of(rt, incident_id)))


def _reject(rt: Runtime, principal: str, command: Command) -> SafeText:
    action_id = _action_arg(command)
    reason = " ".join(command.args[1:])
    incident_id = decisions.reject(rt.db, rt.settings, action_id, principal, reason)
    orchestrate.respond(rt, incident_id)
    return compose("Rejected {act}; it will not run.", act=_ident(action_id))


def _undo(rt: Runtime, principal: str, command: Command) -> SafeText:
    action_id = _action_arg(command)
    undo_id = decisions.plan_undo(rt.db, rt.settings, action_id, principal)
    [status] = orchestrate.run_undo(rt, [undo_id]) or ["planned"]
    return compose("Undo of {act} ({undo}): {status}.", act=_ident(action_id), undo=_ident(undo_id),
                   status=_ident(status))


def _resolve(rt: Runtime, principal: str, command: Command) -> SafeText:
    incident_id = _incident(command)
    status = lifecycle.transition(rt.db, rt.settings, incident_id, principal, "resolve", " ".join(command.args))
    return compose("{id} is {status}.", id=_ident(incident_id), status=_ident(status))


def _false_positive(rt: Runtime, principal: str, command: Command) -> SafeText:
    incident_id = _incident(command)
    if not command.args:
        raise CommandError("`false-positive` needs a reason, for the timeline")
    undo_ids = decisions.plan_false_positive(rt.db, rt.settings, incident_id, principal, " ".join(command.args))
    statuses = orchestrate.run_undo(rt, undo_ids)
    return compose("{id} resolved as a false positive; {n} of {total} action(s) undone.", id=_ident(incident_id),
                   n=statuses.count("done"), total=len(statuses))


def _assign(rt: Runtime, principal: str, command: Command) -> SafeText:
    incident_id = _incident(command)
    if len(command.args) != 1:
        raise CommandError("`assign` needs exactly one user (@someone, slack:U…, or a name)")
    mention = _SLACK_USER.match(command.args[0])
    assignee = f"slack:{mention.group(1)}" if mention else command.args[0]
    lifecycle.assign(rt.db, rt.settings, incident_id, principal, assignee)
    return compose("{id} is assigned to {who}.", id=_ident(incident_id), who=_ident(assignee))


def _runbook(rt: Runtime, principal: str, command: Command) -> SafeText:
    incident_id = _incident(command)
    if command.args[:1] == ["done"]:
        if len(command.args) != 2 or not STEP_ID.match(command.args[1]):
            raise CommandError("`runbook done` needs one step id, as shown on the checklist")
        return complete_step(rt, principal, incident_id, command.args[1])
    rbac.require(rt.db, rt.settings, principal, "view", incident_id)
    if workspace_slack.post_runbook(rt.db, rt.systems, incident_id) is None:
        return compose("{id} has no runbook in Slack yet (no playbook ran, or no Slack channel).",
                       id=_ident(incident_id))
    return compose("Posted the runbook checklist for {id}.", id=_ident(incident_id))


def complete_step(rt: Runtime, principal: str, incident_id: str, step_id: str) -> SafeText:
    """Tick a runbook step: who and when go to RunbookProgressRow, the timeline and the audit log.

    The checklist message is re-rendered through the outbox like every other Slack update, so the tick
    shows even when Slack was briefly unreachable. Ticking a ticked step changes nothing.
    """
    rbac.require(rt.db, rt.settings, principal, "runbook_step", incident_id)
    with rt.db.tx() as s:
        row = incidents.get(s, incident_id)
    book = workspace_slack.runbook_for(row)
    if book is None or step_id not in {step.id for step in book.steps}:
        raise CommandError(f"{incident_id}'s runbook has no step {step_id!r}")
    with rt.db.tx() as s:
        done = s.get(RunbookProgressRow, (incident_id, step_id))
        if done is not None:
            return compose("Step {step} was already done by {who}.", step=_ident(step_id), who=_ident(done.done_by))
        s.add(RunbookProgressRow(incident_id=incident_id, step_id=step_id, done_by=principal, done_at=utcnow()))
        incidents.add_timeline(s, incident_id, "runbook", f"Runbook step {step_id} done by {principal}")
        audit.append(s, actor=principal, kind="runbook.step_done", subject=incident_id,
                     data={"step": step_id, "runbook": book.name})
        outbox.enqueue(s, "incident.updated", incident_id)
    return compose("Step {step} done.", step=_ident(step_id))


def _status_of(rt: Runtime, incident_id: str) -> str:
    with rt.db.tx() as s:
        return incidents.get(s, incident_id).status


def incident_for_channel(rt: Runtime, channel_id: str) -> str | None:
    """The incident whose own Slack channel this is (never a shared triage channel, which holds many)."""
    with rt.db.tx() as s:
        return s.execute(select(IncidentRow.id).where(IncidentRow.slack_channel == channel_id,
                                                      IncidentRow.slack_thread.is_(None))
                         .order_by(IncidentRow.created_at.desc()).limit(1)).scalar()


_HANDLERS = {
    "help": _help, "status": _status, "run": _run, "approve": _approve, "reject": _reject, "undo": _undo,
    "resolve": _resolve, "false-positive": _false_positive, "assign": _assign, "runbook": _runbook,
}
