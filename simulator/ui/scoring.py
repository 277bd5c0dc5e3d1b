"""HTML for the rubric's verdicts: per-turn badges and tips, the end-of-call scorecard."""

from __future__ import annotations

import html

from ..rubric.models import DIMENSIONS
from ..rubric.scorecard import Scorecard
from ..rubric.scorer import TurnScore
from .i18n import t

CSS = """
.turn-score { display: flex; flex-wrap: wrap; gap: .4em; align-items: center; }
.turn-score .badge { border-radius: 4px; padding: 1px 8px; font-weight: 600; color: #fff; }
.badge[data-score='1'], .badge[data-score='2'] { background: #c62828; }
.badge[data-score='3'] { background: #f9a825; color: #222; }
.badge[data-score='4'], .badge[data-score='5'] { background: #2e7d32; }
.turn-score .tip, .turn-score .violation { flex-basis: 100%; margin: .2em 0 0; }
.turn-score .violation, .scorecard .critical { color: #b71c1c; }
.scorecard table { border-collapse: collapse; }
.scorecard td, .scorecard th { padding: 2px 10px 2px 0; border: 0; text-align: left; }
.scorecard .verdict[data-passed='true'] { color: #2e7d32; }
.scorecard .verdict[data-passed='false'] { color: #b71c1c; }
.turn-breakdown ol { padding-left: 1.2em; }
.turn-breakdown li.turn-detail { margin: .6em 0; }
.turn-breakdown blockquote { margin: 0 0 .3em; padding-left: .6em; border-left: 3px solid #bbb; font-style: italic; }
"""


def _e(text) -> str:
    return html.escape(str(text))


def turn_badges(score: TurnScore | None, lang: str, *, turn: int | None = None, label: str | None = None) -> str:
    """E/F/C badges of one trainee turn (by default « Votre réplique : », the last one), its tips and any
    critical error or review flag."""
    if score is None:
        return ""
    badges = "".join(_badge(score, d, lang) for d in DIMENSIONS)
    parts = [f"<strong>{_e(t(lang, 'rb_last_turn') if label is None else label)}</strong>{badges}"]
    for v in score.violations:
        parts.append(f"<p class='violation' data-rule='{_e(v.rule)}'>{_e(t(lang, 'rb_critical_error', rule=v.rule, text=v.text))}"
                     + (f" {_e(v.fix)}" if v.fix else "") + "</p>")
    for v in score.review:
        parts.append(f"<p class='review-flag' data-rule='{_e(v.rule)}' data-category='{_e(v.category)}'>"
                     f"{_e(t(lang, 'rb_review_flag', category=t(lang, f'rb_category_{v.category}'), text=v.text))}</p>")
    for d, tip in score.tips.items():
        parts.append(f"<p class='tip' data-dim='{d}'>{_e(t(lang, 'rb_tip', dim=t(lang, f'rb_dim_{d}'), tip=tip))}</p>")
    attr = f" data-turn='{turn}'" if turn is not None else ""
    return f"<div class='turn-score'{attr}>{''.join(parts)}</div>"


def turn_breakdown(scored: list[tuple[str, TurnScore]], lang: str) -> str:
    """Every scored trainee turn of a finished call, in order: what was said, its badges, critical errors,
    review flags and tips — what the trainee saw turn by turn in practice mode (and did not see in exam
    mode), kept below the scorecard so a whole call can be gone over after hanging up."""
    if not scored:
        return ""
    items = "".join(
        f"<li class='turn-detail' data-turn='{n}'><blockquote>{_e(text)}</blockquote>"
        f"{turn_badges(score, lang, turn=n, label=t(lang, 'rb_turn_n', n=n))}</li>"
        for n, (text, score) in enumerate(scored, start=1))
    return (f"<details class='turn-breakdown' open><summary>{_e(t(lang, 'rb_breakdown_title', n=len(scored)))}"
            f"</summary><ol>{items}</ol></details>")


def _badge(score: TurnScore, d: str, lang: str) -> str:
    """One dimension's badge; its tooltip says when the calibrated score differs from the rules' own."""
    title = t(lang, f"rb_dim_{d}")
    rules = (score.rules or {}).get(d)
    extra = ""
    if rules is not None and rules != score.scores[d]:
        title = t(lang, "rb_calibrated_title", dim=title, rules=rules, score=score.scores[d])
        extra = f" data-rules='{rules}'"
    return (f"<span class='badge' data-dim='{d}' data-score='{score.scores[d]}'{extra} title='{_e(title)}'>"
            f"{_e(t(lang, f'rb_badge_{d}'))} {score.scores[d]}</span>")


def _trend(value: float) -> str:
    return "↗" if value > 0.15 else "↘" if value < -0.15 else "→"


def scorecard_panel(card: Scorecard | None, lang: str) -> str:
    """The call's scorecard: means and trend per dimension, overall, pass/fail, critical errors."""
    if card is None:
        return ""
    rows = "".join(
        f"<tr data-dim='{d}'><th>{_e(t(lang, f'rb_dim_{d}'))}</th><td>{card.means[d]:.1f} / 5</td>"
        f"<td title='{_e(t(lang, 'rb_trend'))}'>{_trend(card.trend[d])}</td></tr>"
        for d in DIMENSIONS
    )
    verdict = t(lang, "rb_passed" if card.passed else "rb_failed")
    errors = "".join(
        f"<li class='critical' data-rule='{_e(e.rule)}'>{_e(t(lang, 'rb_critical_error', rule=e.rule, text=e.text))}"
        f" <small>({_e(e.reference)})</small></li>" for e in card.critical_errors
    ) or f"<li>{_e(t(lang, 'rb_no_critical_error'))}</li>"
    review = "".join(
        f"<li class='review-flag' data-rule='{_e(e.rule)}'>"
        f"{_e(t(lang, 'rb_review_flag', category=t(lang, f'rb_category_{e.category}'), text=e.text))}</li>"
        for e in card.review_flags)
    stages = ", ".join(t(lang, f"rb_stage_{s}") for s in card.stages_covered) or "—"
    missing = ", ".join(t(lang, f"rb_stage_{s}") for s in card.stages_missing)
    outcome = t(lang, f"outcome_{card.outcome}") if card.outcome else "—"
    return (
        f"<div class='scorecard' data-passed='{str(card.passed).lower()}' data-overall='{card.overall:.2f}'>"
        f"<h3>{_e(t(lang, 'rb_scorecard_title'))}</h3>"
        f"<p class='verdict' data-passed='{str(card.passed).lower()}'><strong>{_e(verdict)}</strong> — "
        f"{_e(t(lang, 'rb_overall', overall=f'{card.overall:.2f}', mark=f'{card.pass_mark:.1f}'))}</p>"
        f"<table>{rows}</table>"
        f"<p>{_e(t(lang, 'rb_turns_scored', n=card.turns_scored))} · {_e(t(lang, 'outcome', label=outcome))}</p>"
        f"<p>{_e(t(lang, 'rb_stages_covered'))} : {_e(stages)}"
        + (f"<br><small>{_e(t(lang, 'rb_stages_missing'))} : {_e(missing)}</small>" if missing else "")
        + f"</p><strong>{_e(t(lang, 'rb_critical_errors'))}</strong><ul>{errors}</ul>"
        + (f"<strong>{_e(t(lang, 'rb_review_flags'))}</strong><ul class='review-flags'>{review}</ul>" if review else "")
        + f"<p><small>{_e(t(lang, 'rb_rubric_used', rubric=f'{card.rubric_id}@{card.rubric_version}'))}</small></p></div>"
    )
