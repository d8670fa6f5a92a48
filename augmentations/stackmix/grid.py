"""A PNG-ready grid of generated lines, each under its caption (text, or reference and reading)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

CAPTION_LINE_HEIGHT = 22


def render_grid(lines: list[tuple[str, np.ndarray]], width: int = 1400) -> Image.Image:
    """Stack line images, each under its caption (may hold several text lines), into one RGB image
    `width` pixels wide; wider lines are shrunk to fit."""
    font = ImageFont.load_default(size=18)
    rows = []
    for caption, image in lines:
        line = Image.fromarray(image).convert("RGB")
        if line.width > width:
            line = line.resize((width, max(1, round(line.height * width / line.width))), Image.Resampling.LANCZOS)
        caption_height = 8 + CAPTION_LINE_HEIGHT * (caption.count("\n") + 1)
        row = Image.new("RGB", (width, line.height + caption_height), "white")
        ImageDraw.Draw(row).multiline_text((4, 4), caption, fill=(200, 0, 0), font=font, spacing=4)
        row.paste(line, (0, caption_height))
        rows.append(row)
    grid = Image.new("RGB", (width, sum(row.height + 4 for row in rows)), (180, 180, 180))
    y = 0
    for row in rows:
        grid.paste(row, (0, y))
        y += row.height + 4
    return grid
