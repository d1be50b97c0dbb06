"""An exam as a printable PDF perio chart (fpdf2; imported only when a PDF is asked for)."""

from __future__ import annotations

from typing import Any

from voicechart.web.chartview import ArchView
from voicechart.web.readmodel import ExamView


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def chart_pdf(view: ExamView, arches: tuple[ArchView, ArchView], patient: str) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=False)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 13)
    started = view.session.started_at.strftime("%Y-%m-%d %H:%M")
    pdf.cell(
        0,
        8,
        _latin1(f"Perio chart - {patient} - exam {view.session.exam_num or '-'} - {started}"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_font("Helvetica", "", 7)
    pdf.cell(
        0,
        5,
        "Red: 5 mm or deeper. * bleeding, ^ suppuration, ? marked for review. Grey: missing / skipped. "
        "Mobility under the probing row.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    label_w, cell_w, h = 22.0, 15.8, 4.6
    for arch in arches:
        pdf.ln(2)
        pdf.set_font("Helvetica", "B", 8)
        pdf.cell(label_w, h, arch.name, border=1)
        for tooth in arch.teeth:
            pdf.cell(cell_w, h, str(tooth), border=1, align="C")
        pdf.ln(h)
        for row in arch.rows:
            pdf.set_font("Helvetica", "", 7)
            pdf.set_text_color(0, 0, 0)
            pdf.cell(label_w, h, f"{row.label} {row.side[0].upper()}", border=1)
            for cell in row.teeth:
                _tooth_cell(pdf, cell, cell_w, h)
            pdf.ln(h)
            if row.label == "Probing" and any(cell.mobility for cell in row.teeth):
                pdf.cell(label_w, h, f"Mobility {row.side[0].upper()}", border=1)
                for cell in row.teeth:
                    pdf.cell(cell_w, h, cell.mobility, border=1, align="C")
                pdf.ln(h)
    return bytes(pdf.output())


def _tooth_cell(pdf: Any, cell: Any, width: float, h: float) -> None:
    if cell.skipped:
        pdf.set_fill_color(220, 220, 220)
        pdf.cell(width, h, "", border=1, fill=True)
        return
    third = width / 3
    for site in cell.sites:
        text = site.text
        if "bleeding" in site.classes:
            text += "*"
        if "suppuration" in site.classes:
            text += "^"
        if "marked" in site.classes:
            text += "?"
        if "deep" in site.classes:
            pdf.set_text_color(200, 0, 0)
        else:
            pdf.set_text_color(0, 0, 0)
        pdf.cell(third, h, text, border="TB", align="C")
    pdf.set_text_color(0, 0, 0)
