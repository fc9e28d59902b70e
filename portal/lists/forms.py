"""List forms: the upload, the column mapping (one select per column, read by
index), and the small action forms that carry the CSRF token."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import TextAreaField
from wtforms.validators import Length


class UploadForm(FlaskForm):
    file = FileField(
        "CSV or Excel file",
        validators=[FileRequired("Choose a CSV or .xlsx file to upload.")],
    )


class MappingForm(FlaskForm):
    """The columns arrive as ``column-<index>`` = field (or "" to leave out)."""

    PREFIX = "column-"

    def choices(self, formdata) -> dict[int, str]:
        chosen = {}
        for key, value in formdata.items():
            if key.startswith(self.PREFIX) and key[len(self.PREFIX) :].isdigit():
                chosen[int(key[len(self.PREFIX) :])] = value.strip()
        return chosen


class ActionForm(FlaskForm):
    """Accept, re-quote, retry, delete: nothing but the token."""


class DisputeForm(FlaskForm):
    details = TextAreaField(
        "What is wrong (optional)",
        validators=[Length(max=1000, message="Keep it under 1,000 characters.")],
    )
