"""The survey report in Markdown and in HTML (one self-contained page: inline style, no
scripts or external assets; every text escaped). Both render the same rows: names, counts,
types, entity types and reasons, never a value."""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any

from outrigger.survey.classify import kind_of
from outrigger.survey.model import FieldStats, Survey, TypeSurvey, sorted_fields

LABELS = {"sensitive": "sensitive", "ai-candidate": "AI candidate", "low-value": "low value"}


def labels_text(t: TypeSurvey) -> str:
    c = t.classification
    return " + ".join(LABELS[label] for label in c.labels) if c else ""


def rate_text(survey: Survey, t: TypeSurvey) -> str:
    rate = survey.rate(t)
    return "-" if rate is None else f"{rate:.2f}/s"


def presence_text(survey: Survey, t: TypeSurvey, f: FieldStats) -> str:
    presence = survey.presence(t, f)
    return "optional" if presence is None else f"{presence:.0f}%"


def pii_text(f: FieldStats) -> str:
    return ", ".join(f"{e} x{n}" for e, n in sorted(f.pii.items())) or ""


def header_lines(survey: Survey) -> Iterator[str]:
    yield f"Input: {survey.input} ({survey.origin})"
    if survey.window_s is not None:
        yield f"Sample window: {survey.window_s:.1f} s"
    if survey.input != "asyncapi":
        yield f"Messages: {survey.messages}"
        if survey.malformed:
            codes = ", ".join(f"{code} x{n}" for code, n in sorted(survey.malformed.items()))
            yield f"Unreadable messages: {sum(survey.malformed.values())} ({codes})"
        yield f"PII detector: {survey.pii_mode} mode (values are never shown)"
    yield from survey.notes


def _md(text: str) -> str:
    """Markdown table cell text: no pipes or line breaks, inline HTML made inert."""
    return html.escape(text.replace("|", "\\|").replace("\n", " "), quote=False)


def markdown(survey: Survey) -> str:
    lines = ["# Event-surface survey", ""]
    lines += [f"- {_md(line)}" for line in header_lines(survey)] + [""]
    lines += ["| event type | count | rate | classification |", "|---|---:|---:|---|"]
    for t in survey.ordered():
        row = [t.type, str(t.count), rate_text(survey, t), labels_text(t)]
        lines.append("| " + " | ".join(_md(cell) for cell in row) + " |")
    for t in survey.ordered():
        lines += ["", f"## {_md(t.type)}", "", f"**{labels_text(t)}**", ""]
        lines += [
            f"- {_md(reason)}" for reason in (t.classification.reasons if t.classification else ())
        ]
        if t.sources:
            lines.append(f"- sources: {_md(', '.join(sorted(t.sources)))}")
        if t.keys:
            lines.append(f"- routing keys / channels: {_md(', '.join(sorted(t.keys)))}")
        lines += ["", "| field | kind | types | present | PII found |", "|---|---|---|---:|---|"]
        for f in sorted_fields(t):
            cells = [f.path, kind_of(f), ", ".join(sorted(f.types))]
            cells += [presence_text(survey, t, f), pii_text(f)]
            lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}"
    "table{border-collapse:collapse;margin:.5rem 0 1.5rem}"
    "td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}"
    ".sensitive{color:#a40000}.ai-candidate{color:#005a9c}.low-value{color:#666}"
)


def _row(cells: list[str], tag: str = "td") -> str:
    return "<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells) + "</tr>"


def _badges(t: TypeSurvey) -> str:
    if t.classification is None:
        return ""
    return " ".join(
        f'<span class="{label}">{html.escape(LABELS[label])}</span>'
        for label in t.classification.labels
    )


def html_page(survey: Survey) -> str:
    e = html.escape
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>Event-surface survey</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Event-surface survey</h1><ul>",
        *(f"<li>{e(line)}</li>" for line in header_lines(survey)),
        "</ul><table>",
        _row(["event type", "count", "rate", "classification"], "th"),
    ]
    for t in survey.ordered():
        cells = [t.type, str(t.count), rate_text(survey, t)]
        parts.append(_row(cells)[: -len("</tr>")] + f"<td>{_badges(t)}</td></tr>")
    parts.append("</table>")
    for t in survey.ordered():
        parts += [f"<h2>{e(t.type)}</h2><p>{_badges(t)}</p><ul>"]
        reasons = t.classification.reasons if t.classification else ()
        parts += [f"<li>{e(reason)}</li>" for reason in reasons]
        if t.sources:
            parts.append(f"<li>sources: {e(', '.join(sorted(t.sources)))}</li>")
        if t.keys:
            parts.append(f"<li>routing keys / channels: {e(', '.join(sorted(t.keys)))}</li>")
        parts += ["</ul><table>", _row(["field", "kind", "types", "present", "PII found"], "th")]
        for f in sorted_fields(t):
            types = ", ".join(sorted(f.types))
            cells = [f.path, kind_of(f), types, presence_text(survey, t, f), pii_text(f)]
            parts.append(_row(cells))
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def as_json(survey: Survey) -> dict[str, Any]:
    """The survey as a JSON-ready dict (no values, only names, counts and reasons)."""
    types = []
    for t in survey.ordered():
        c = t.classification
        rate = survey.rate(t)
        types.append({
            "type": t.type,
            "count": t.count,
            "rate_per_s": None if rate is None else round(rate, 3),
            "sources": sorted(t.sources),
            "keys": sorted(t.keys),
            "labels": list(c.labels) if c else [],
            "reasons": list(c.reasons) if c else [],
            "sensitive_fields": dict(c.sensitive_fields) if c else {},
            "text_fields": list(c.text_fields) if c else [],
            "numeric_fields": list(c.numeric_fields) if c else [],
            "fields": [_field_json(survey, t, f) for f in sorted_fields(t)],
        })  # fmt: skip
    return {
        "input": survey.input,
        "origin": survey.origin,
        "window_s": None if survey.window_s is None else round(survey.window_s, 3),
        "messages": survey.messages,
        "malformed": dict(survey.malformed),
        "pii_mode": survey.pii_mode,
        "notes": list(survey.notes),
        "types": types,
    }


def _field_json(survey: Survey, t: TypeSurvey, f: FieldStats) -> dict[str, Any]:
    presence = survey.presence(t, f)
    return {
        "path": f.path,
        "types": sorted(f.types),
        "kind": kind_of(f),
        "presence_pct": None if presence is None else round(presence, 1),
        "pii": dict(sorted(f.pii.items())),
    }
