"""`python -m simulator users …`, `export` and `import`: accounts and reviewed calls from the command line.

The command line works on the database directly, as an administrator would:
exports are not limited to one user's calls.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import SimulatorError
from .settings import Settings
from .users import ROLES, User

users_app = typer.Typer(no_args_is_help=True, help="User accounts: once one exists, the web app asks everyone to log in.")

DataDirOpt = Annotated[Optional[Path], typer.Option("--data-dir", help="Database and model cache folder")]
DatabaseOpt = Annotated[Optional[str], typer.Option("--database-url", help="SQLAlchemy URL of the store (default: SQLite in the data dir)")]
TeamOpt = Annotated[Optional[list[str]], typer.Option("--team", help="Team the user belongs to (repeat for several)")]
PasswordStdinOpt = Annotated[bool, typer.Option("--password-stdin", help="Read the password from the first line of standard input")]

CLI_USER = User(username="cli", role="admin")  # whoever runs the command line has the database anyway


def _fail(exc: SimulatorError) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def _store(data_dir: Path | None, database_url: str | None):
    from .cli import make_settings
    from .store import Store

    settings = make_settings(data_dir=data_dir, database_url=database_url)
    return settings, Store(settings.database, heartbeat_seconds=settings.heartbeat_seconds)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


def _role(role: str | None) -> str | None:
    if role is not None and role not in ROLES:
        raise SimulatorError(f"invalid role {role!r} (valid roles: {', '.join(ROLES)})")
    return role


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Login name: lower-case letters, digits, '.', '_' or '-'")],
    role: Annotated[str, typer.Option("--role", help=f"One of: {', '.join(ROLES)}")] = "trainee",
    team: TeamOpt = None,
    display_name: Annotated[Optional[str], typer.Option("--display-name", help="Name shown in the app")] = None,
    password_stdin: PasswordStdinOpt = False,
    data_dir: DataDirOpt = None, database_url: DatabaseOpt = None,
) -> None:
    """Create an account (the password is asked twice, or read with --password-stdin)."""
    from .users import UserDirectory

    try:
        _, store = _store(data_dir, database_url)
        try:
            user = UserDirectory(store).add(username, _password(password_stdin), role=_role(role), teams=team or [],
                                            display_name=display_name)
        finally:
            store.close()
    except SimulatorError as exc:
        _fail(exc)
    teams = f" in {', '.join(user.teams)}" if user.teams else ""
    typer.echo(f"added {user.username} ({user.role}{teams})")


@users_app.command("list")
def users_list(data_dir: DataDirOpt = None, database_url: DatabaseOpt = None) -> None:
    """List the accounts with their role, teams and number of calls."""
    from sqlalchemy import text

    from .users import UserDirectory

    try:
        _, store = _store(data_dir, database_url)
        try:
            users = UserDirectory(store).list()
            with store.engine.connect() as conn:
                calls = dict(conn.execute(text("SELECT trainee, COUNT(*) FROM sessions GROUP BY trainee")).all())
        finally:
            store.close()
    except SimulatorError as exc:
        _fail(exc)
    if not users:
        typer.echo("no user: the app runs in single-user mode on 127.0.0.1 (add one with `users add NAME --role admin`)")
        return
    typer.echo(f"{'username':<20} {'role':<9} {'teams':<24} {'calls':>5}  name")
    for u in users:
        typer.echo(f"{u.username:<20} {u.role:<9} {', '.join(u.teams) or '-':<24} {calls.get(u.username, 0):>5}  {u.display_name or ''}")


@users_app.command("passwd")
def users_passwd(
    username: Annotated[str, typer.Argument(help="Login name")],
    password_stdin: PasswordStdinOpt = False,
    data_dir: DataDirOpt = None, database_url: DatabaseOpt = None,
) -> None:
    """Set a new password."""
    from .users import UserDirectory

    try:
        _, store = _store(data_dir, database_url)
        try:
            UserDirectory(store).set_password(username, _password(password_stdin))
        finally:
            store.close()
    except SimulatorError as exc:
        _fail(exc)
    typer.echo(f"password of {username} changed")


@users_app.command("edit")
def users_edit(
    username: Annotated[str, typer.Argument(help="Login name")],
    role: Annotated[Optional[str], typer.Option("--role", help=f"New role: {', '.join(ROLES)}")] = None,
    team: TeamOpt = None,
    no_team: Annotated[bool, typer.Option("--no-team", help="Remove the user from every team")] = False,
    display_name: Annotated[Optional[str], typer.Option("--display-name", help="Name shown in the app")] = None,
    data_dir: DataDirOpt = None, database_url: DatabaseOpt = None,
) -> None:
    """Change a role, the teams (--team replaces them all) or the display name."""
    from .users import UserDirectory

    try:
        _, store = _store(data_dir, database_url)
        try:
            user = UserDirectory(store).update(username, role=_role(role), teams=[] if no_team else team,
                                               display_name=display_name)
        finally:
            store.close()
    except SimulatorError as exc:
        _fail(exc)
    typer.echo(f"{user.username}: {user.role}, teams: {', '.join(user.teams) or '-'}")


@users_app.command("remove")
def users_remove(
    username: Annotated[str, typer.Argument(help="Login name")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
    data_dir: DataDirOpt = None, database_url: DatabaseOpt = None,
) -> None:
    """Delete an account. Its calls stay in the database (reviewers and admins still see them)."""
    from .users import UserDirectory

    if not yes:
        typer.confirm(f"remove the account {username}?", abort=True)
    try:
        _, store = _store(data_dir, database_url)
        try:
            calls = UserDirectory(store).remove(username)
        finally:
            store.close()
    except SimulatorError as exc:
        _fail(exc)
    typer.echo(f"removed {username}; their {calls} call(s) are kept")


def export_command(
    fmt: Annotated[str, typer.Option("--format", "-f", help="json (complete, re-importable), csv (turn scores) or html (printable scorecards)")] = "json",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="File to write (default: standard output)")] = None,
    trainee: Annotated[Optional[str], typer.Option("--trainee", help="Only this trainee's calls")] = None,
    scenario: Annotated[Optional[str], typer.Option("--scenario", help="Only calls of this scenario id")] = None,
    date_from: Annotated[Optional[str], typer.Option("--from", help="Calls started on or after this day (YYYY-MM-DD)")] = None,
    date_to: Annotated[Optional[str], typer.Option("--to", help="Calls started on or before this day (YYYY-MM-DD)")] = None,
    outcome: Annotated[Optional[str], typer.Option("--outcome", help="Outcome code: PTP, PLAN, HUNG_UP…")] = None,
    result: Annotated[Optional[str], typer.Option("--result", help="pass, fail or unscored")] = None,
    critical: Annotated[Optional[bool], typer.Option("--critical/--no-critical", help="Only calls with (or without) critical errors")] = None,
    to_check: Annotated[Optional[bool], typer.Option("--to-check/--no-to-check", help="Only calls with (or without) flags to check nobody has decided yet")] = None,
    verdict: Annotated[Optional[str], typer.Option("--verdict", help="pass, needs_work, fail or none")] = None,
    status: Annotated[Optional[str], typer.Option("--status", help="active, ended or interrupted")] = None,
    session: Annotated[Optional[list[str]], typer.Option("--session", help="Only this call id (repeat for several)")] = None,
    sort: Annotated[str, typer.Option("--sort", help="date_desc, date_asc, overall_desc, overall_asc, critical_desc, to_check_desc, trainee, scenario")] = "date_desc",
    language: Annotated[Optional[str], typer.Option("--language", help="Language of the CSV tips and the HTML: fr or en")] = None,
    data_dir: DataDirOpt = None, database_url: DatabaseOpt = None,
) -> None:
    """Export calls with the review tab's filters."""
    from pydantic import ValidationError

    from .auth import Access
    from .exports import export
    from .reviews import Reviews, SessionFilter

    try:
        if fmt not in ("json", "csv", "html"):
            raise SimulatorError(f"--format: {fmt!r} is not one of json, csv, html")
        try:
            flt = SessionFilter(trainee=trainee, scenario_id=scenario, date_from=_date("--from", date_from),
                                date_to=_date("--to", date_to), outcome=outcome, result=result, critical=critical,
                                to_check=to_check, verdict=verdict, status=status, session_ids=session, sort=sort)
        except ValidationError as exc:
            err = exc.errors()[0]
            option = {"scenario_id": "scenario", "session_ids": "session"}.get(str(err["loc"][0]), str(err["loc"][0]))
            raise SimulatorError(f"--{option}: {err['msg']}") from exc
        settings, store = _store(data_dir, database_url)
        try:
            reviews = Reviews(store, Access(store, settings), timezone_name=settings.display_timezone)
            content = export(reviews, CLI_USER, flt, fmt, lang=language or settings.language)
            count = len(reviews.list_sessions(CLI_USER, flt))
        finally:
            store.close()
    except SimulatorError as exc:
        _fail(exc)
    if output is None:
        sys.stdout.write(content)
    else:
        output.write_text(content, encoding="utf-8")
        typer.echo(f"{count} call(s) exported to {output}", err=True)


def _date(option: str, value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise SimulatorError(f"{option}: {value!r} is not a date (YYYY-MM-DD)") from None


def import_command(
    files: Annotated[list[Path], typer.Argument(help="JSON files written by `export --format json`")],
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite calls already in the database")] = False,
    data_dir: DataDirOpt = None, database_url: DatabaseOpt = None,
) -> None:
    """Import calls exported as JSON (from this or another installation)."""
    from .exports import import_sessions

    try:
        _, store = _store(data_dir, database_url)
        try:
            for path in files:
                try:
                    raw = path.read_text(encoding="utf-8")
                except OSError as exc:
                    raise SimulatorError(f"{path}: cannot read the file ({exc.strerror})") from exc
                result = import_sessions(store, raw, source=str(path), replace=replace)
                typer.echo(f"{path}: {len(result.imported)} imported, {len(result.replaced)} replaced, "
                           f"{len(result.skipped)} already present" + (" (use --replace to overwrite)" if result.skipped else ""))
                if result.ignored_columns:
                    typer.secho(f"{path}: ignored columns this database does not have: "
                                f"{', '.join(sorted(result.ignored_columns))}", fg=typer.colors.YELLOW, err=True)
        finally:
            store.close()
    except SimulatorError as exc:
        _fail(exc)


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.command("export")(export_command)
    app.command("import")(import_command)
