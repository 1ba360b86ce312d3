"""Shopper-facing text in the customer's language (English, Dutch, Swedish: the seed
documents' languages). Staff- and app-facing text stays English.

The language is the logged-in customer's `User.language_code` (as Saleor keeps it and
as the e-mails use it); for an anonymous caller, the request's Accept-Language. Error
messages are chosen by their error code, so the code stays the contract and the text
is what a shopper reads.
"""

from .errors import StoreCreditErrorCode as Code
from .notifications.templates import DEFAULT_LANGUAGE, language_for

# code -> language -> message. English messages stay the precise ones raised.
SHOPPER_ERRORS = {
    Code.NOT_FOUND: {
        "nl": "Winkelwagen niet gevonden.",
        "sv": "Varukorgen hittades inte.",
    },
    Code.CHANNEL_NOT_ENABLED: {
        "nl": "Tegoed kan in deze winkel niet worden gebruikt.",
        "sv": "Tillgodohavande kan inte användas i den här butiken.",
    },
    Code.INSUFFICIENT_FUNDS: {
        "nl": "Je hebt niet genoeg tegoed.",
        "sv": "Du har inte tillräckligt med tillgodohavande.",
    },
    Code.NOTHING_TO_PAY: {
        "nl": "Er is niets meer te betalen.",
        "sv": "Det finns inget kvar att betala.",
    },
    Code.INVALID_AMOUNT: {
        "nl": "Dit bedrag kan niet worden gebruikt: het is ongeldig of hoger dan wat "
              "nog te betalen is.",
        "sv": "Beloppet kan inte användas: det är ogiltigt eller högre än det som "
              "återstår att betala.",
    },
    Code.CHECKOUT_LOCKED: {
        "nl": "Je bestelling wordt afgerond; probeer het zo opnieuw.",
        "sv": "Din beställning slutförs; försök igen om en stund.",
    },
    Code.TRANSACTION_LIMIT_REACHED: {
        "nl": "Er zijn te veel betaalpogingen voor deze winkelwagen.",
        "sv": "För många betalningsförsök för den här varukorgen.",
    },
    Code.INVALID_GIFT_CARD: {
        "nl": "Deze cadeaukaartcode kan niet worden omgezet in tegoed.",
        "sv": "Den här presentkortskoden kan inte omvandlas till tillgodohavande.",
    },
    Code.TOO_MANY_ATTEMPTS: {
        "nl": "Te veel pogingen met cadeaukaarten. Probeer het later opnieuw.",
        "sv": "För många försök med presentkort. Försök igen senare.",
    },
    Code.CREDIT_NOT_AVAILABLE: {
        "nl": "Betalen op rekening is niet mogelijk: de bestelling past niet binnen je "
              "beschikbare krediet.",
        "sv": "Betalning mot faktura är inte möjlig: beställningen ryms inte inom din "
              "tillgängliga kredit.",
    },
    Code.CREDIT_BLOCKED: {
        "nl": "Deze bestelling kan niet op rekening worden geplaatst; betaal nu of neem "
              "contact met ons op.",
        "sv": "Den här beställningen kan inte läggas mot faktura; betala nu eller "
              "kontakta oss.",
    },
    Code.IDEMPOTENCY_KEY_REUSED: {
        "nl": "Deze aanvraag is al met andere gegevens verwerkt.",
        "sv": "Den här begäran har redan behandlats med andra uppgifter.",
    },
}
LOG_IN = {
    "store credit": {
        "en": "Log in to use store credit.",
        "nl": "Log in om je tegoed te gebruiken.",
        "sv": "Logga in för att använda ditt tillgodohavande.",
    },
    "pay on account": {
        "en": "Log in to pay on account.",
        "nl": "Log in om op rekening te betalen.",
        "sv": "Logga in för att betala mot faktura.",
    },
    "gift card": {
        "en": "Log in to convert a gift card.",
        "nl": "Log in om een cadeaukaart om te zetten.",
        "sv": "Logga in för att omvandla ett presentkort.",
    },
}


def _accepted_language(request) -> str:
    header = (getattr(request, "META", {}) or {}).get("HTTP_ACCEPT_LANGUAGE", "")
    for part in header.split(","):
        language = language_for(part.split(";")[0].strip())
        if language != DEFAULT_LANGUAGE or part.strip().lower().startswith("en"):
            return language
    return DEFAULT_LANGUAGE


def shopper_language(context) -> str | None:
    """The language to answer a shopper in; None for staff and apps (English)."""
    if getattr(context, "app", None) is not None:
        return None
    user = getattr(context, "user", None)
    if user is None:
        return _accepted_language(context)
    if user.is_staff:
        return None
    return language_for(getattr(user, "language_code", None))


def shopper_error(code, message: str, language: str | None) -> str:
    """`message` in `language` (by its error code); unchanged for English, for staff and
    for codes without a translation."""
    if not language or language == DEFAULT_LANGUAGE:
        return message
    value = getattr(code, "value", code)
    for known, texts in SHOPPER_ERRORS.items():
        if known.value == value:
            return texts.get(language, message)
    return message


def log_in_message(context, what: str = "store credit") -> str:
    texts = LOG_IN[what]
    return texts.get(shopper_language(context) or DEFAULT_LANGUAGE, texts["en"])
