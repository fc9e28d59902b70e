"""Admin forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import IntegerField
from wtforms.validators import InputRequired, NumberRange

MAX_DEMO_CONTACTS = 1_000_000


class DemoDataForm(FlaskForm):
    contacts = IntegerField(
        "Contacts",
        default=1000,
        validators=[
            InputRequired("Say how many contacts to generate."),
            NumberRange(
                min=1,
                max=MAX_DEMO_CONTACTS,
                message=f"Choose between 1 and {MAX_DEMO_CONTACTS:,} contacts.",
            ),
        ],
    )
    seed = IntegerField(
        "Seed",
        default=2,
        validators=[
            InputRequired("Give a seed; the same seed gives the same people."),
            NumberRange(min=0, max=2**31 - 1, message="Use a whole number from 0."),
        ],
    )
