"""The web forms (Flask-WTF: every one carries a CSRF token). Field rules that belong to the
data (password policy, note length, setting ranges) live in appliance.store and come back as
field-level messages; these only bound sizes and shapes."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, Length

from appliance.store.users import ROLES

NAME_MAX = 64
PASSWORD_MAX = 256
NOTE_MAX = 2000


class LoginForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=NAME_MAX)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=PASSWORD_MAX)])


class SetupForm(FlaskForm):
    name = StringField("Administrator name", validators=[DataRequired(), Length(max=NAME_MAX)], default="admin")
    password = PasswordField("Password (at least 10 characters)",
                             validators=[DataRequired(), Length(max=PASSWORD_MAX)])
    confirm = PasswordField("Password again", validators=[EqualTo("password", message="the passwords differ")])


class ActionForm(FlaskForm):
    """A form with nothing but its CSRF token: delete, hold, release, revoke, log out."""


class HoldForm(FlaskForm):
    held = HiddenField(validators=[DataRequired()])


class NoteForm(FlaskForm):
    note = TextAreaField("Note", validators=[Length(max=NOTE_MAX)])


class NewUserForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=NAME_MAX)])
    role = SelectField("Role", choices=list(ROLES), default="listener")
    password = PasswordField("Password (at least 10 characters)",
                             validators=[DataRequired(), Length(max=PASSWORD_MAX)])


class UserChangeForm(FlaskForm):
    role = SelectField("Role", choices=list(ROLES))
    disabled = BooleanField("Disabled")


class PasswordForm(FlaskForm):
    password = PasswordField("New password (at least 10 characters)",
                             validators=[DataRequired(), Length(max=PASSWORD_MAX)])
    confirm = PasswordField("New password again", validators=[EqualTo("password", message="the passwords differ")])


class OwnPasswordForm(PasswordForm):
    """Changing one's own password asks for the current one: a session left open on a shared
    computer must not be enough to take over the account."""
    current = PasswordField("Current password", validators=[DataRequired(), Length(max=PASSWORD_MAX)])


class TokenForm(FlaskForm):
    label = StringField("What the token is for", validators=[DataRequired(), Length(max=NAME_MAX)])


class DnrForm(FlaskForm):
    """A number for the do-not-record list; appliance.store.dnr checks what it may be."""
    pattern = StringField("Number or pattern", validators=[DataRequired(message="give a number"), Length(max=64)])
    label = StringField("Label (who it is: Doctor, Union, Helpline)", validators=[Length(max=64)])


class DnrRemoveForm(FlaskForm):
    pattern = HiddenField(validators=[DataRequired(), Length(max=64)])
