"""HTML of a reviewed call: header, scorecard, transcript with score badges,
highlighted evidence, tips, violations, debtor mood and reviewer notes.

The review tab shows the same fragments as the printable scorecard, so what a
team lead prints is what they saw. Pure functions: a `SessionDetail` in, HTML out.
"""

from __future__ import annotations

import html
from datetime import datetime
from zoneinfo import ZoneInfo

from .reviews import SessionDetail, SessionSummary, TurnView
from .ui.i18n import t

GAUGES = ("trust", "irritation", "willingness")

PRINT_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d1d1f; margin: 2em; }
.call { page-break-after: always; max-width: 60em; margin: 0 auto 3em; }
.call:last-child { page-break-after: auto; }
@media print { body { margin: 0; } .call { margin: 0; } }
"""

REVIEW_CSS = """
.review-call h2 { margin: 0 0 .3em; font-size: 1.25em; }
.review-call table.facts { border-collapse: collapse; margin: .4em 0 .8em; }
.review-call table.facts th { text-align: left; padding: 2px 1em 2px 0; font-weight: 600; white-space: nowrap; vertical-align: top; }
.review-call table.facts td { padding: 2px 0; }
.review-call .scorecard { display: flex; flex-wrap: wrap; gap: .6em; margin: .5em 0 1em; }
.review-call .metric { border: 1px solid #d0d0d0; border-radius: 6px; padding: .3em .7em; min-width: 7em; }
.review-call .metric b { display: block; font-size: 1.3em; }
.review-call .metric small { color: #666; }
.review-call .pass { color: #1b5e20; } .review-call .fail { color: #b71c1c; }
.review-call .status-interrupted { background: #fff3e0; color: #e65100; border-radius: 4px; padding: 0 .4em; }
.review-call .turn { border-left: 4px solid #bbb; padding: .4em .8em; margin: .6em 0; background: #fafafa; }
.review-call .turn.agent { border-left-color: #1565c0; background: #f3f7fd; }
.review-call .turn .who { font-weight: 600; margin-right: .5em; }
.review-call .turn .meta { color: #777; font-size: .85em; }
.review-call .badges { margin: .3em 0; display: flex; flex-wrap: wrap; gap: .3em; }
.review-call .badge { border-radius: 10px; padding: 1px .6em; font-size: .85em; color: #fff; background: #757575; }
.review-call .badge.s1 { background: #b71c1c; } .review-call .badge.s2 { background: #e65100; }
.review-call .badge.s3 { background: #9e7c00; } .review-call .badge.s4 { background: #2e7d32; }
.review-call .badge.s5 { background: #1b5e20; }
.review-call .badge.overridden { outline: 2px solid #6a1b9a; }
.review-call .badge s { opacity: .75; margin-right: .25em; }
.review-call .badge.stage { background: #455a64; }
.review-call mark { padding: 0 1px; border-radius: 2px; }
.review-call mark.ev-positive { background: #c8e6c9; } .review-call mark.ev-negative { background: #ffe0b2; }
.review-call mark.violation { background: #ffcdd2; text-decoration: underline wavy #b71c1c; }
.review-call mark.violation-dismissed { background: #eeeeee; text-decoration: line-through #757575; }
.review-call li.violation.dismissed { color: #616161; } .review-call li.violation.dismissed .tag { background: #757575; }
.review-call li.violation .decision { font-style: italic; }
.review-call ul.notes { margin: .3em 0 0 0; padding: 0; font-size: .92em; list-style: none; }
.review-call ul.notes li { margin: .15em 0; }
.review-call ul.notes .tag { display: inline-block; font-size: .8em; font-weight: 600; text-transform: uppercase;
  letter-spacing: .03em; border-radius: 3px; padding: 0 .35em; margin-right: .4em; color: #fff; }
.review-call li.tip .tag { background: #00796b; } .review-call li.violation .tag { background: #b71c1c; }
.review-call li.violation { color: #b71c1c; } .review-call li.comment .tag { background: #546e7a; }
.review-call li.review-flag .tag { background: #8d6e00; } .review-call li.review-flag.dismissed { color: #616161; }
.review-call li.override .tag { background: #6a1b9a; } .review-call li.override { color: #6a1b9a; }
.review-call .mood-line { color: #555; font-size: .85em; margin-top: .3em; }
.review-call .mood-line .up { color: #2e7d32; } .review-call .mood-line .down { color: #b71c1c; }
"""


def label(lang: str, key: str, default: str) -> str:
    """A translated label, or `default` for a code no table knows (a rubric's own dimension, a new beat)."""
    try:
        return t(lang, key)
    except KeyError:
        return default


def dim_label(lang: str, dim: str) -> str:
    return label(lang, f"dim_{dim}", dim)


def _sep(lang: str) -> str:
    return "\u00a0: " if lang == "fr" else ": "


def _open(lang: str) -> str:
    return "«\u00a0" if lang == "fr" else "“"


def _close(lang: str) -> str:
    return "\u00a0»" if lang == "fr" else "”"


def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def local_time(iso: str | None, tz: ZoneInfo, fmt: str = "%d/%m/%Y %H:%M") -> str:
    return datetime.fromisoformat(iso).astimezone(tz).strftime(fmt) if iso else "–"


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def result_text(summary: SessionSummary, lang: str) -> str:
    passed = summary.scores.passed
    if passed is None:
        return t(lang, "result_unscored")
    return t(lang, "result_pass") if passed else t(lang, "result_fail")


def highlight(text: str, spans: list[dict]) -> str:
    """Escape `text` and wrap the spans in <mark>; overlapping spans are split at every boundary."""
    located = []
    for span in spans:
        start, end = span.get("start"), span.get("end")
        quoted = span.get("text") or ""
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)
                and (not quoted or text[start:end] == quoted)):
            found = text.find(quoted) if quoted else -1  # offsets disagree with the text: fall back to the quote
            if found < 0:
                continue
            start, end = found, found + len(quoted)
        located.append((start, end, span))
    if not located:
        return html.escape(text)
    cuts = sorted({0, len(text), *(s for s, _, _ in located), *(e for _, e, _ in located)})
    out = []
    for a, b in zip(cuts, cuts[1:]):
        piece = html.escape(text[a:b])
        covering = [sp for s, e, sp in located if s <= a and b <= e]
        if not covering:
            out.append(piece)
            continue
        if any(sp.get("kind") == "violation" and not sp.get("dismissed") for sp in covering):
            cls = "violation"
        elif any(sp.get("kind") == "violation" for sp in covering):
            cls = "violation-dismissed"
        elif any(sp.get("polarity") == "negative" for sp in covering):
            cls = "ev-negative"
        else:
            cls = "ev-positive"
        title = "; ".join(str(sp.get("label") or "") for sp in covering if sp.get("label"))
        out.append(f"<mark class='{cls}' title='{html.escape(title, quote=True)}'>{piece}</mark>")
    return "".join(out)


def mood_line(move: dict | None, previous: dict | None, lang: str) -> str:
    state = (move or {}).get("state")
    if not state:
        return ""
    parts = []
    for g in GAUGES:
        value = state.get(g)
        if not isinstance(value, (int, float)):
            continue
        before = (previous or {}).get(g)
        arrow, cls = "", ""
        if isinstance(before, (int, float)) and abs(value - before) >= 0.005:
            arrow, cls = ("↑", "up") if value > before else ("↓", "down")
            if g == "irritation":
                cls = "down" if cls == "up" else "up"  # irritation going up is bad news
        parts.append(f"<span class='{cls}' data-gauge='{g}' data-value='{value:.2f}'>{html.escape(t(lang, g))} "
                     f"{value:.2f}{arrow}</span>")
    beat = move.get("beat")
    beat_text = f" · {html.escape(label(lang, 'beat_' + beat, beat))}" if beat else ""
    return f"<div class='mood-line'>{html.escape(t(lang, 'mood_after'))} {' · '.join(parts)}{beat_text}</div>"


def score_badges(turn: TurnView, dims: list[str], lang: str) -> str:
    if not turn.score:
        return ""
    auto = turn.score.get("scores") or {}
    badges = []
    for d in dims:
        if d not in auto and d not in turn.effective:
            continue
        eff = turn.effective.get(d, auto.get(d))
        overridden = [o for o in turn.overrides if o.dimension == d]
        dim_name = html.escape(dim_label(lang, d))
        if overridden:
            last = overridden[-1]
            title = html.escape(t(lang, "override_title", original=auto.get(d), score=eff, author=last.author or "?",
                                  reason=last.reason), quote=True)
            badges.append(f"<span class='badge s{eff} overridden' data-dim='{d}' data-score='{eff}' data-auto='{auto.get(d)}' "
                          f"title='{title}'>{dim_name} <s>{auto.get(d)}</s>{eff}</span>")
        else:
            badges.append(f"<span class='badge s{eff}' data-dim='{d}' data-score='{eff}'>{dim_name} {eff}</span>")
    stage = turn.score.get("stage")
    if stage:
        badges.append(f"<span class='badge stage' data-stage='{html.escape(stage)}'>{html.escape(t(lang, 'stage'))} "
                      f"{html.escape(label(lang, 'stage_' + stage, stage))}</span>")
    return f"<div class='badges'>{''.join(badges)}</div>"


def _note(kind: str, tag: str, body: str, attrs: str = "") -> str:
    """One line under a turn: a coloured tag, then already-escaped HTML."""
    return f"<li class='{kind}'{attrs}><span class='tag'>{html.escape(tag)}</span>{body}</li>"


def _violation_note(v: dict, lang: str, with_turn: bool = False) -> str:
    """A flagged violation; struck through with who dismissed it and why when a reviewer did (`decision` keys)."""
    e = lambda x: html.escape(str(x if x is not None else ""))  # noqa: E731
    turn = f"#{e(v.get('turn'))} " if with_turn else ""
    ref = f" — {e(v['reference'])}" if v.get("reference") else ""
    body = (f"{turn}<b>{e(v.get('category') or v.get('rule'))}</b> ({e(v.get('rule'))}){_sep(lang)}"
            f"{_open(lang)}{e(v.get('text'))}{_close(lang)}{ref}")
    decision = v.get("decision")
    if decision not in ("dismissed", "confirmed"):
        return _note("violation", t(lang, "violation"), body, f" data-rule='{e(v.get('rule'))}'")
    why = v.get("decision_reason")
    said = t(lang, f"violation_{decision}_by", author=v.get("decided_by") or "?")
    said = e(said) + (f"{_sep(lang)}{e(why)}" if why else "")
    if decision == "dismissed":
        body = f"<s>{body}</s>"
    return _note(f"violation {decision}", t(lang, "violation"), f"{body} <span class='decision'>— {said}</span>",
                 f" data-rule='{e(v.get('rule'))}' data-decision='{decision}'")


def _review_note(v: dict, lang: str) -> str:
    """A review flag of the learned detector: to check; once a reviewer confirms it, a critical error (drawn as
    one, with who confirmed it); once dismissed, struck through with who and why."""
    rule = html.escape(str(v.get("rule") or ""))
    if v.get("decision") == "confirmed":
        return _violation_note(v, lang).replace("<li class='violation confirmed'", "<li class='violation confirmed' data-review='1'", 1)
    body = html.escape(t(lang, "rb_review_flag", category=t(lang, f"rb_category_{v.get('category')}"),
                         text=str(v.get("text") or "")))
    if v.get("decision") != "dismissed":
        return _note("review-flag", t(lang, "rb_review_flags"), body, f" data-rule='{rule}'")
    said = html.escape(t(lang, "violation_dismissed_by", author=v.get("decided_by") or "?"))
    if v.get("decision_reason"):
        said += f"{_sep(lang)}{html.escape(str(v['decision_reason']))}"
    return _note("review-flag dismissed", t(lang, "rb_review_flags"), f"<s>{body}</s> <span class='decision'>— {said}</span>",
                 f" data-rule='{rule}' data-decision='dismissed'")


def _with_decision(v: dict, turn: TurnView) -> dict:
    d = turn.decision_for(v.get("rule"))
    if d is None:
        return v
    return {**v, "decision": d.decision, "decided_by": d.author, "decision_reason": d.reason, "decided_at": d.created_at}


def _comment_note(c, lang: str, tz: ZoneInfo) -> str:
    body = f"<b>{html.escape(c.author or '?')}</b> ({local_time(c.created_at, tz)}){_sep(lang)}{html.escape(c.text)}"
    return _note("comment", t(lang, "comment_label"), body)


def turn_notes(turn: TurnView, lang: str, tz: ZoneInfo) -> str:
    score = turn.score or {}
    items = [_violation_note(_with_decision(v, turn), lang) for v in score.get("violations") or []]
    for v in score.get("review") or []:  # the learned detector's flags: to check, not critical errors
        items.append(_review_note(_with_decision(v, turn), lang))
    for dim, tip in (score.get("tips") or {}).items():
        items.append(_note("tip", t(lang, "tip"), f"<b>{html.escape(dim_label(lang, dim))}</b>{_sep(lang)}{html.escape(str(tip))}"))
    for o in turn.overrides:
        what = t(lang, "override_note", dim=dim_label(lang, o.dimension), original=o.original_score, score=o.score,
                 author=o.author or "?", when=local_time(o.created_at, tz))
        items.append(_note("override", t(lang, "audit_override"),
                           f"{html.escape(what)} {_open(lang)}{html.escape(o.reason)}{_close(lang)}"))
    items.extend(_comment_note(c, lang, tz) for c in turn.comments)
    return f"<ul class='notes'>{''.join(items)}</ul>" if items else ""


def turn_html(turn: TurnView, detail: SessionDetail, lang: str, tz: ZoneInfo, previous_state: dict | None) -> str:
    scenario = detail.scenario
    debtor = (scenario.get("persona") or {}).get("name") or t(lang, "debtor")
    who = detail.summary.trainee or t(lang, "trainee") if turn.speaker == "agent" else debtor
    spans = []
    score = turn.score or {}
    for ev in score.get("evidence") or []:
        spans.append({**ev, "label": f"{dim_label(lang, str(ev.get('dimension')))} {'+' if ev.get('polarity') != 'negative' else '−'} "
                                     f"{ev.get('indicator') or ''}".strip()})
    for v in score.get("violations") or []:
        decision = turn.decision_for(v.get("rule"))
        dismissed = decision is not None and decision.decision == "dismissed"
        what = f"{t(lang, 'violation')}{_sep(lang)}{v.get('category') or v.get('rule')}"
        if dismissed:
            what += f" ({t(lang, 'violation_dismissed_by', author=decision.author or '?')})"
        spans.append({**v, "kind": "violation", "dismissed": dismissed, "label": what})
    timing = ""
    if turn.total_ms is not None:
        timing = f" · {turn.total_ms / 1000:.1f} s"
    guard = ""
    if turn.guard_events:
        guard = " · " + html.escape(t(lang, "guard_events", kinds=", ".join(sorted({str(e.get('kind')) for e in turn.guard_events}))))
    error = f"<div class='meta fail'>{html.escape(turn.error)}</div>" if turn.error else ""
    body = highlight(turn.text, spans)
    mood = mood_line(turn.move, previous_state, lang) if turn.speaker == "agent" else ""
    return (f"<div class='turn {turn.speaker}' id='turn-{turn.idx}' data-idx='{turn.idx}'>"
            f"<div><span class='who'>{html.escape(who)}</span>"
            f"<span class='meta'>#{turn.idx} · {local_time(turn.created_at, tz, '%H:%M:%S')}{timing}{guard}</span></div>"
            f"<div class='text'>{body}</div>{error}"
            f"{score_badges(turn, detail.summary.scores.dimensions, lang)}{mood}{turn_notes(turn, lang, tz)}</div>")


def header_html(detail: SessionDetail, lang: str, tz: ZoneInfo) -> str:
    s = detail.summary
    sc = s.scores
    scenario = detail.scenario
    title = scenario.get("title") or s.scenario_id
    status = label(lang, f"call_status_{s.status}", s.status)
    status_html = (f"<span class='status-interrupted'>{html.escape(status)}</span>" if s.status == "interrupted"
                   else html.escape(status))
    outcome = label(lang, f"outcome_{s.outcome}", s.outcome) if s.outcome else "–"
    verdict = s.verdict
    verdict_text = (f"{t(lang, 'verdict_' + verdict.verdict)} — {verdict.author or '?'}"
                    + (f"{_sep(lang)}{_open(lang)}{verdict.note}{_close(lang)}" if verdict.note else "")) if verdict else t(lang, "verdict_none")
    facts = [
        (t(lang, "trainee"), s.trainee or t(lang, "local_user")),
        (t(lang, "scenario"), f"{title} ({s.scenario_id})"),
        (t(lang, "date"), local_time(s.started_at, tz)),
        (t(lang, "duration"), duration_text(s.duration_s)),
        (t(lang, "mode"), label(lang, f"call_mode_{s.mode}", s.mode)),
        (t(lang, "status"), None),
        (t(lang, "outcome_label"), outcome),
        (t(lang, "backend"), f"{s.backend} · {s.model}"),
        (t(lang, "rubric"), s.rubric or "–"),
        (t(lang, "verdict"), verdict_text),
    ]
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{status_html if v is None else html.escape(str(v))}</td></tr>"
                   for k, v in facts)
    metrics = []
    overall = _fmt(sc.overall)
    if sc.overridden and sc.overall_auto is not None and sc.overall != sc.overall_auto:
        overall = f"<s>{_fmt(sc.overall_auto)}</s> {overall}"
    passed_cls = "" if sc.passed is None else ("pass" if sc.passed else "fail")
    result = html.escape(result_text(s, lang))
    if sc.passed is not None and sc.passed_auto is not None and sc.passed != sc.passed_auto:
        # the automatic result stays visible next to the one the reviewers' decisions give
        auto = t(lang, "result_pass") if sc.passed_auto else t(lang, "result_fail")
        result = f"<s data-auto-result='{str(sc.passed_auto).lower()}'>{html.escape(auto)}</s> {result}"
    metrics.append(f"<div class='metric' data-metric='overall' data-passed='{str(sc.passed).lower()}'>"
                   f"<small>{html.escape(t(lang, 'overall'))}</small>"
                   f"<b class='{passed_cls}'>{overall}</b><small>{result}"
                   f"{'' if sc.pass_mark is None else ' · ' + html.escape(t(lang, 'pass_mark', mark=_fmt(sc.pass_mark)))}</small></div>")
    for d in sc.dimensions:
        eff, auto = sc.means.get(d), sc.means_auto.get(d)
        shown = _fmt(eff) if eff is None or auto is None or abs(eff - auto) < 0.005 else f"<s>{_fmt(auto)}</s> {_fmt(eff)}"
        metrics.append(f"<div class='metric' data-metric='{d}'><small>{html.escape(dim_label(lang, d))}</small><b>{shown}</b></div>")
    n_critical = str(len(sc.critical_errors))
    if sc.dismissed_errors or sc.review_confirmed:
        n_critical = f"<s>{len(sc.critical_errors_auto)}</s> {n_critical}"
    metrics.append(f"<div class='metric' data-metric='critical' data-count='{len(sc.critical_errors)}'>"
                   f"<small>{html.escape(t(lang, 'critical_errors'))}</small>"
                   f"<b class='{'fail' if sc.critical_errors else ''}'>{n_critical}</b></div>")
    critical = "".join(_violation_note(c, lang, with_turn=True)
                       for c in sorted([*sc.critical_errors, *sc.dismissed_errors], key=_turn_order))
    critical = f"<ul class='notes'>{critical}</ul>" if critical else ""
    call_comments = "".join(_comment_note(c, lang, tz) for c in detail.call_comments)
    call_comments = f"<ul class='notes'>{call_comments}</ul>" if call_comments else ""
    return (f"<h2>{html.escape(title)}</h2><table class='facts'>{rows}</table>"
            f"<div class='scorecard'>{''.join(metrics)}</div>{critical}{call_comments}")


def _turn_order(error: dict) -> int:
    turn = error.get("turn")
    return turn if isinstance(turn, int) else -1


def call_html(detail: SessionDetail, lang: str, tz: ZoneInfo) -> str:
    """The whole call as shown in the review tab (and printed)."""
    initial = ((detail.scenario.get("state") or {}).get("initial")) or None
    previous = initial
    turns = []
    for turn in detail.turns:
        turns.append(turn_html(turn, detail, lang, tz, previous))
        if turn.speaker == "agent" and turn.move and turn.move.get("state"):
            previous = turn.move["state"]
    return (f"<div class='review-call' data-session='{html.escape(detail.summary.id)}'>{header_html(detail, lang, tz)}"
            f"<h3>{html.escape(t(lang, 'transcript'))}</h3>{''.join(turns)}</div>")


def printable_html(details: list[SessionDetail], lang: str, tz: ZoneInfo) -> str:
    """A self-contained HTML document, one call per printed page."""
    calls = "".join(f"<section class='call'>{call_html(d, lang, tz)}</section>" for d in details)
    title = t(lang, "scorecard_title")
    return (f"<!DOCTYPE html><html lang='{lang}'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{PRINT_CSS}{REVIEW_CSS}</style></head><body>{calls}</body></html>")


def mood_points(detail: SessionDetail, lang: str) -> list[dict]:
    """Rows for the mood line plot: one point per gauge after each trainee turn (turn 0 = the initial mood)."""
    rows = []
    initial = (detail.scenario.get("state") or {}).get("initial")
    if initial:
        rows.extend({"turn": 0, "value": float(initial[g]), "gauge": t(lang, g)} for g in GAUGES if g in initial)
    n = 0
    for turn in detail.turns:
        if turn.speaker == "agent":
            n += 1
            state = (turn.move or {}).get("state") or {}
            rows.extend({"turn": n, "value": float(state[g]), "gauge": t(lang, g)} for g in GAUGES if g in state)
    return rows
