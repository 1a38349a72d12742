"""The printable dossier (`GET /v1/referrals/{id}/dossier.pdf`, CONTRACTS.md §2a): the dossier as
`GET /v1/referrals/{id}/dossier` answers it (`domain/dossier.py`, `dossier`), rendered to PDF for
the unit's system of record.

fpdf2 (pure Python) with DejaVu Sans from Debian's `fonts-dejavu-core`: a Unicode TrueType font,
subset into the file, so every name prints as written ("Zoë Łukasz Đặng"). A field named in the
dossier's `masked` list (a dotted path, e.g. `child.personal_number` or `guardians.0`, masking
everything under it) is printed as "Skyddad – visas inte" even if a value came with it. Every page
carries the referral's reference, who printed it and when, the secrecy provision and its number.
The file's metadata holds no personal details: the title is the reference.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from services.intake.adapters import dossier_labels as sv

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
STOCKHOLM = ZoneInfo("Europe/Stockholm")
_LABEL_W = 55.0


class PrintFontMissing(RuntimeError):
    """The dossier's font is not installed (Debian package `fonts-dejavu-core`)."""


def check_fonts(font_dir: Path = FONT_DIR) -> None:
    """Fail at start-up, not at the first print, when the font is missing."""
    for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"):
        if not (font_dir / name).is_file():
            raise PrintFontMissing(f"{font_dir / name} is missing: install fonts-dejavu-core")


class _Pages(FPDF):
    def __init__(self, footer: str) -> None:
        super().__init__(format="A4")
        self._footer = footer

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font("DejaVu", size=7.5)
        self.set_text_color(80)
        self.cell(0, 4, self._footer, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.cell(0, 4, f"Sida {self.page_no()} av {{nb}}", align="C")


def render_dossier_pdf(
    dossier: Mapping[str, Any],
    printed_by: str,
    printed_at: datetime,
    *,
    font_dir: Path = FONT_DIR,
    tz: tzinfo = STOCKHOLM,
) -> bytes:
    """The dossier as a PDF, printed by staff id `printed_by` at `printed_at` (shown in `tz`)."""
    check_fonts(font_dir)
    reference = str(dossier.get("reference") or dossier.get("referral_id") or "")
    footer = (
        f"{sv.KIND.get(str(dossier.get('kind')), 'Aktualisering')} {reference} · Utskriven av {printed_by} "
        f"{_local(printed_at, tz)} · {sv.SECRECY}"
    )
    pdf = _Pages(footer)
    pdf.add_font("DejaVu", "", str(font_dir / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(font_dir / "DejaVuSans-Bold.ttf"))
    pdf.set_title(f"{sv.KIND.get(str(dossier.get('kind')), 'Aktualisering')} {reference}")
    pdf.set_creator("referral-router")
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_page()
    _Writer(pdf, frozenset(str(m) for m in dossier.get("masked") or ()), tz).dossier(dossier)
    return bytes(pdf.output())


async def print_dossier(dossier: Mapping[str, Any], printed_by: str, printed_at: datetime) -> bytes:
    """`render_dossier_pdf` in a worker thread: a print takes some 100 ms of CPU (the font is read
    and subset), too long to hold the event loop."""
    return await asyncio.to_thread(render_dossier_pdf, dossier, printed_by, printed_at)


class _Writer:
    """Lays out the sections; every value passes `_shown`, which is where masking happens."""

    def __init__(self, pdf: FPDF, masked: frozenset[str], tz: tzinfo) -> None:
        self._pdf, self._masked, self._tz = pdf, masked, tz

    def dossier(self, d: Mapping[str, Any]) -> None:
        pdf = self._pdf
        pdf.set_font("DejaVu", "B", 16)
        pdf.cell(0, 10, sv.KIND.get(str(d.get("kind")), "Aktualisering"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self._fields(d, "", (("reference", "Referens"), ("referral_id", "Aktualisering"),
                             ("received_at", "Inkom"), ("channel", "Kanal")))  # fmt: skip
        self._section("Barn")
        self._fields(d.get("child") or {}, "child.", sv.CHILD)
        self._section("Vårdnadshavare")
        guardians = d.get("guardians") or []
        for i, guardian in enumerate(guardians):
            self._fields(guardian, f"guardians.{i}.", sv.GUARDIAN, gap=i > 0)
        if not guardians:
            self._line("Inga uppgifter")
        self._section("Anmälare")
        self._fields(d.get("reporter") or {}, "reporter.", sv.REPORTER)
        self._section("Oro")
        self._fields(d.get("concern") or {}, "concern.", sv.CONCERN)
        self._section("Syskon")
        self._line(", ".join(str(s) for s in d.get("sibling_referral_ids") or ()) or "Inga")
        self._section("Bilagor")
        for i, attachment in enumerate(d.get("attachments") or ()):
            self._line(self._shown(f"attachments.{i}", _attachment(attachment)))
        if not d.get("attachments"):
            self._line("Inga")
        self._section("Handläggning")
        self._fields(d.get("assignment") or {}, "assignment.", sv.ASSIGNMENT)
        self._fields(d.get("deadlines") or {}, "deadlines.", sv.DEADLINE)
        self._section("Registrering i verksamhetssystemet")
        if d.get("registration"):
            self._fields(d["registration"], "registration.", sv.REGISTRATION)
        else:
            self._line("Inte registrerad")

    def _section(self, heading: str) -> None:
        pdf = self._pdf
        pdf.ln(3)
        pdf.set_font("DejaVu", "B", 12)
        pdf.cell(0, 7, heading, border="B", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(1)

    def _fields(
        self, values: Mapping[str, Any], prefix: str, labels: Sequence[tuple[str, str]], gap: bool = False
    ) -> None:
        if gap:
            self._pdf.ln(2)
        for key, label in labels:
            self._row(label, self._shown(prefix + key, values.get(key)))

    def _row(self, label: str, text: str) -> None:
        pdf = self._pdf
        pdf.set_font("DejaVu", "B", 9.5)
        pdf.cell(_LABEL_W, 5.5, label)
        pdf.set_font("DejaVu", "", 9.5)
        pdf.multi_cell(0, 5.5, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def _line(self, text: str) -> None:
        self._pdf.set_font("DejaVu", "", 9.5)
        self._pdf.multi_cell(0, 5.5, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def _shown(self, path: str, value: Any) -> str:
        parts = path.split(".")
        if any(".".join(parts[: n + 1]) in self._masked for n in range(len(parts))):
            return sv.MASKED
        return _text(value, sv.CODES.get(_generic(path), {}), self._tz, path)


def _generic(path: str) -> str:
    return ".".join(p for p in path.split(".") if not p.isdigit())


def _text(value: Any, codes: Mapping[str, str], tz: tzinfo, path: str) -> str:
    if value is None or value == "" or value == []:
        return sv.MISSING
    if isinstance(value, bool):
        return "Ja" if value else "Nej"
    if isinstance(value, list | tuple):
        return ", ".join(codes.get(str(v), str(v)) for v in value)
    if path.endswith("personal_number") and isinstance(value, str) and len(value) == 12 and value.isdigit():
        return f"{value[:8]}-{value[8:]}"
    if isinstance(value, datetime | date) or (isinstance(value, str) and _looks_like_instant(value)):
        return _local(value, tz)
    if path in ("kind", "channel"):
        return {**sv.KIND, **sv.CHANNEL}.get(str(value), str(value))
    return codes.get(str(value), str(value))


def _looks_like_instant(text: str) -> bool:
    return len(text) >= 19 and text[4] == "-" and text[10] == "T"


def _local(value: datetime | date | str, tz: tzinfo) -> str:
    if isinstance(value, str):
        try:
            return _local(datetime.fromisoformat(value), tz)
        except ValueError:
            return value
    if isinstance(value, datetime):
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value.tzinfo else value.isoformat(" ")
    return value.isoformat()


def _attachment(attachment: Any) -> str:
    if not isinstance(attachment, Mapping):
        return str(attachment)
    label = attachment.get("name") or "bilaga"
    given = attachment.get("file_name") or attachment.get("filename")
    name = f"{label}: {given}" if given else label
    keys = ("media_type", "content_type", "size")
    details = [str(attachment[k]) for k in keys if attachment.get(k) is not None]
    return f"{name} ({', '.join(details)})" if details else str(name)
