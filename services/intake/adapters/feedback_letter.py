"""The printable feedback letter to a mandatory reporter (`GET …/feedback-letter.pdf`, issue 23):
fpdf2 with the dossier's DejaVu Sans. The address block is the reporter's name and organisation,
the text `domain/feedback.py`'s; the file's metadata holds only the referral's reference."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from services.intake.adapters.dossier_print import FONT_DIR, check_fonts
from services.intake.domain.feedback import FeedbackText, Recipient


def render_feedback_letter(
    recipient: Recipient, text: FeedbackText, reference: str, dated: date, *, font_dir: Path = FONT_DIR
) -> bytes:
    """The letter as a one-page A4 PDF, dated `dated`."""
    check_fonts(font_dir)
    pdf = FPDF(format="A4")
    pdf.add_font("DejaVu", "", str(font_dir / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(font_dir / "DejaVuSans-Bold.ttf"))
    pdf.set_title(reference)
    pdf.set_creator("referral-router")
    pdf.add_page()
    pdf.set_font("DejaVu", size=11)
    for line in (recipient.name, recipient.organisation):
        if line:
            pdf.cell(0, 6, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(12)
    pdf.cell(0, 6, dated.isoformat(), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("DejaVu", "B", size=13)
    pdf.cell(0, 10, text.subject, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("DejaVu", size=11)
    pdf.multi_cell(0, 6, text.greeting, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    for paragraph in text.paragraphs:
        pdf.ln(3)
        pdf.multi_cell(0, 6, paragraph, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())


async def print_feedback_letter(
    recipient: Recipient, text: FeedbackText, reference: str, dated: date
) -> bytes:
    """`render_feedback_letter` in a worker thread (the font is read and subset)."""
    return await asyncio.to_thread(render_feedback_letter, recipient, text, reference, dated)
