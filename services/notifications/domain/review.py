"""The monthly access-log review for the head of unit: an email and a Teams card.

Staff ids and names (staff data), counts, finding kinds and referral references only: the review
event has no field for anything else, and the reasons given for break-the-glass stay in the log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import Any

from services.notifications.domain.cards import MAX_CARD_BYTES, card_size, envelope
from services.notifications.domain.messages import Message, labels

# A finding names at most this many referrals; the rest are counted ("och 12 till").
SHOWN_REFERENCES = 20
FINDING_KINDS = ("break_glass", "denied", "outside_assignments", "outside_office_hours", "unusual_volume")


@dataclass(frozen=True)
class Finding:
    """What stood out about one member of staff: the kind, how often, and on which referrals."""

    kind: str
    staff: str
    count: int
    referral_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class AccessSummary:
    """Last month's review: the month (YYYY-MM), how many log entries it read, what it found."""

    month: str
    entries: int
    findings: tuple[Finding, ...] = ()
    # The newest row of the access log and its hash (hex) when the review was made: kept in the
    # head of unit's mail, outside intake's database, for `verify-access-log --anchor SEQ:HASH`.
    anchor: tuple[int, str] | None = None


_TEXTS: dict[str, dict[str, str]] = {
    "sv": {
        "subject": "Granskning av åtkomstloggen {month}",
        "entries": "Åtkomstloggen för {month} har {entries} poster.",
        "none": "Granskningen fann inget att följa upp.",
        "some": "Granskningen fann följande att följa upp:",
        "times": "{n} gånger",
        "once": "1 gång",
        "referrals": "ärenden",
        "more": "och {n} till",
        "cut": "… och {n} fynd till, se e-posten.",
        "reasons": "Skälen för nödåtkomst finns i åtkomstloggen.",
        "anchor": "Spara för kontroll av åtkomstloggen: rad {seq}, kontrollsumma {hash}",
        "break_glass": "Nödåtkomst",
        "denied": "Nekade försök",
        "outside_assignments": "Åtkomst utanför egna ärenden",
        "outside_office_hours": "Åtkomst utanför kontorstid",
        "unusual_volume": "Ovanligt många ärenden öppnade",
    },
    "en": {
        "subject": "Access log review {month}",
        "entries": "The access log for {month} holds {entries} entries.",
        "none": "The review found nothing to follow up.",
        "some": "The review found the following to follow up:",
        "times": "{n} times",
        "once": "once",
        "referrals": "referrals",
        "more": "and {n} more",
        "cut": "… and {n} more findings, see the email.",
        "reasons": "The reasons for break-the-glass access are in the access log.",
        "anchor": "Keep for checking the access log: row {seq}, checksum {hash}",
        "break_glass": "Break-the-glass access",
        "denied": "Refused attempts",
        "outside_assignments": "Access outside own referrals",
        "outside_office_hours": "Access outside office hours",
        "unusual_volume": "Unusually many referrals opened",
    },
}

Names = Callable[[str], str]
"""A staff id → how staff read it (`Astrid Berg (cw-a1)`)."""
Links = Callable[[str], str | None]
"""A referral reference → its link, or None when the unit links no single referral."""


def grouped(summary: AccessSummary) -> list[tuple[str, list[Finding]]]:
    """The findings by kind, in the fixed order of kinds, most frequent first within a kind."""
    order = {kind: n for n, kind in enumerate(FINDING_KINDS)}
    kinds = sorted({f.kind for f in summary.findings}, key=lambda k: (order.get(k, len(order)), k))
    return [
        (kind, sorted((f for f in summary.findings if f.kind == kind), key=lambda f: (-f.count, f.staff)))
        for kind in kinds
    ]


def _count(n: int, texts: dict[str, str]) -> str:
    return texts["once"] if n == 1 else texts["times"].format(n=n)


def _references(finding: Finding, texts: dict[str, str], show: Callable[[str], str]) -> str:
    shown = [show(r) for r in finding.referral_ids[:SHOWN_REFERENCES]]
    rest = len(finding.referral_ids) - len(shown)
    if rest > 0:
        shown.append(texts["more"].format(n=rest))
    return f" – {texts['referrals']}: {', '.join(shown)}" if shown else ""


def _line(finding: Finding, names: Names, texts: dict[str, str], show: Callable[[str], str]) -> str:
    return f"{names(finding.staff)}: {_count(finding.count, texts)}{_references(finding, texts, show)}"


def headline(summary: AccessSummary, language: str) -> tuple[str, str, str]:
    """The subject, the sentence about the log's size, and whether anything was found."""
    texts = _TEXTS[language]
    return (
        texts["subject"].format(month=summary.month),
        texts["entries"].format(month=summary.month, entries=summary.entries),
        texts["some"] if summary.findings else texts["none"],
    )


def anchor_line(summary: AccessSummary, language: str) -> list[str]:
    """The log's newest row and hash as the head of unit keeps them, if the review carried them."""
    if summary.anchor is None:
        return []
    seq, digest = summary.anchor
    return [_TEXTS[language]["anchor"].format(seq=seq, hash=digest)]


def review_message(
    summary: AccessSummary, recipient: str, names: Names, links: Links, home: str, language: str = "sv"
) -> Message:
    """The review's email to the head of unit (each reference linked when the unit links them)."""
    texts, words = _TEXTS[language], labels(language)
    subject, entries, found = headline(summary, language)
    lines, items = [], []
    for kind, findings in grouped(summary):
        lines += ["", texts.get(kind, kind)]
        lines += [f"- {_line(f, names, texts, lambda r: _plain(r, links))}" for f in findings]
        html_names, anchor = _escaped(names), lambda r: _anchor(r, links)
        rows = "".join(f"<li>{_line(f, html_names, texts, anchor)}</li>" for f in findings)
        items.append(f"<h3>{escape(texts.get(kind, kind))}</h3><ul>{rows}</ul>")
    greeting = words["greeting"].format(name=recipient)
    text = "\n".join(
        [greeting, "", entries, found, *lines, "", texts["reasons"], *anchor_line(summary, language), "",
         f"{words['link']}: {home}", "", words["footer"]]
    )  # fmt: skip
    html = (
        f"<html><body><p>{escape(greeting)}</p><p>{escape(entries)} {escape(found)}</p>{''.join(items)}"
        f"<p>{escape(texts['reasons'])}</p>"
        + "".join(f"<p><small>{escape(line)}</small></p>" for line in anchor_line(summary, language))
        + f'<p><a href="{escape(home)}">{escape(words["link"])}</a></p>'
        f"<p><small>{escape(words['footer'])}</small></p></body></html>"
    )
    return Message(subject, text + "\n", html)


def review_card(
    summary: AccessSummary, names: Names, links: Links, home: str, language: str = "sv"
) -> dict[str, Any]:
    """The review's Teams card; findings that would break 20 KB are counted and left to the email."""
    texts, words = _TEXTS[language], labels(language)
    subject, entries, found = headline(summary, language)
    body: list[dict[str, Any]] = [_block(subject, bold=True), _block(f"{entries} {found}")]
    left = len(summary.findings)
    for kind, findings in grouped(summary):
        body.append(_block(texts.get(kind, kind), bold=True))
        for finding in findings:
            body.append(_block(f"- {_line(finding, names, texts, lambda r: _markdown(r, links))}"))
            whole = envelope([*body, _block(texts["reasons"])], home, words["link"])
            if card_size(whole) > MAX_CARD_BYTES - 300:
                body[-1] = _block(texts["cut"].format(n=left))
                return envelope(body, home, words["link"])
            left -= 1
    tail = [_block(texts["reasons"]), *(_block(line) for line in anchor_line(summary, language))]
    return envelope([*body, *tail], home, words["link"])


def _block(text: str, *, bold: bool = False) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "TextBlock", "text": text, "wrap": True}
    if bold:
        block["weight"] = "Bolder"
    return block


def _plain(reference: str, links: Links) -> str:
    link = links(reference)
    return f"{reference} ({link})" if link else reference


def _anchor(reference: str, links: Links) -> str:
    link = links(reference)
    return f'<a href="{escape(link)}">{escape(reference)}</a>' if link else escape(reference)


def _markdown(reference: str, links: Links) -> str:
    link = links(reference)
    return f"[{reference}]({link})" if link else reference


def _escaped(names: Names) -> Names:
    return lambda staff: escape(names(staff))
