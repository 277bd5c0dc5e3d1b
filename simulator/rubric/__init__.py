"""The rubric engine: rubric files, the lexical scorer, the LLM judge, scorecards and calibration."""

from .native import choose as _choose

_choose()  # the compiled scorer modules, or their sources (SIMULATOR_RUBRIC_PURE, a stale build): native.py

from .loader import DEFAULT_BY_LANGUAGE, RUBRICS_DIR, RubricFile, load_rubric, resolve_rubric, rubric_from_json
from .models import CATEGORIES, DIMENSIONS, STAGES, Pack, Rubric
from .scorer import Evidence, Scorer, ScoringSession, TurnScore, Violation

__all__ = [
    "CATEGORIES", "DEFAULT_BY_LANGUAGE", "DIMENSIONS", "Evidence", "Pack", "RUBRICS_DIR", "Rubric", "RubricFile",
    "STAGES", "Scorer", "ScoringSession", "TurnScore", "Violation", "load_rubric", "resolve_rubric",
    "rubric_from_json",
]
