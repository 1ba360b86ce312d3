"""The e-mail templates: shipped files per event and language, or an override from
the plugin configuration; rendered with Django's template language.

A shipped template is `templates/<event>.<language>.txt` (first line: the subject,
then a blank line, then the plain-text body) and `templates/<event>.<language>.html`
(the HTML body). An override (configuration field `email_template_<event>`) has the
same first-line-subject text form, optionally followed by a line `--- html ---` and
the HTML body; it is used for every language (`{% if language == "nl" %}` chooses).
"""

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.template import Context, Engine, TemplateSyntaxError

from ..conf import EMAIL_TEMPLATE_PREFIX, ConfigurationError, EmailSettings

LANGUAGES = ("en", "nl", "sv")
DEFAULT_LANGUAGE = "en"
HTML_SEPARATOR = "--- html ---"
TEMPLATE_DIR = Path(__file__).parent / "templates"

# Text bodies are not HTML: no escaping. HTML bodies escape every value.
_TEXT = Engine(autoescape=False)
_HTML = Engine(autoescape=True)


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str  # "" when the template has no HTML part


def language_for(language_code: str | None) -> str:
    """Saleor's `User.language_code` (e.g. "nl", "nl-NL", "sv-SE") to a template
    language; anything else is English."""
    code = (language_code or "").replace("_", "-").split("-")[0].lower()
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


@lru_cache(maxsize=None)
def _shipped(event: str, language: str) -> tuple[str, str]:
    text = (TEMPLATE_DIR / f"{event}.{language}.txt").read_text(encoding="utf-8")
    html = (TEMPLATE_DIR / f"{event}.{language}.html").read_text(encoding="utf-8")
    return text, html


def _split_override(source: str) -> tuple[str, str]:
    text, _sep, html = source.replace("\r\n", "\n").partition(f"\n{HTML_SEPARATOR}\n")
    return text, html


def _subject_and_body(text: str) -> tuple[str, str]:
    subject, _sep, body = text.lstrip("\n").partition("\n")
    return subject, body.lstrip("\n")


def sources(event: str, language: str, email: EmailSettings) -> tuple[str, str]:
    override = email.template(event)
    return _split_override(override) if override.strip() else _shipped(event, language)


def render(event: str, language: str, context: dict, email: EmailSettings) -> RenderedEmail:
    text_source, html_source = sources(event, language, email)
    subject_source, body_source = _subject_and_body(text_source)
    ctx = {**context, "language": language}
    # A Context escapes unless told not to, whatever the Engine says.
    plain = Context(ctx, autoescape=False)
    subject = " ".join(_TEXT.from_string(subject_source).render(plain).split())
    text = _TEXT.from_string(body_source).render(plain).strip() + "\n"
    html = (
        _HTML.from_string(html_source).render(Context(ctx, autoescape=True))
        if html_source.strip() else ""
    )
    return RenderedEmail(subject=subject[:255], text=text, html=html)


def check_overrides(email: EmailSettings) -> None:
    """Refuse an override that does not compile or has no subject (pluginUpdate)."""
    for event, source in email.templates:
        field_name = EMAIL_TEMPLATE_PREFIX + event
        text, html = _split_override(source)
        subject, _body = _subject_and_body(text)
        if not subject.strip():
            raise ConfigurationError(
                field_name, f"{field_name}: the first line must be the subject."
            )
        try:
            _TEXT.from_string(text)
            if html.strip():
                _HTML.from_string(html)
        except TemplateSyntaxError as exc:
            raise ConfigurationError(field_name, f"{field_name}: {exc}") from None

