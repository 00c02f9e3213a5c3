"""Phone numbers as people write them, in the box's region: '4155550123' -> '(415) 555-0123' on
a US box, '+442079460958' -> '+44 20 7946 0958'; and any way of typing one, for search."""
from __future__ import annotations

import functools
import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat


@functools.lru_cache(maxsize=4096)     # an index or a page names the same numbers again and again
def readable(number: str | None, region: str) -> str:
    """The number formatted for reading; what cannot be read as a phone number (an extension,
    a short code, a star code) is given back as it was."""
    if not number:
        return ""
    try:
        parsed = phonenumbers.parse(number, region)
    except NumberParseException:
        return number
    if not phonenumbers.is_possible_number(parsed):
        return number
    home = phonenumbers.region_code_for_number(parsed) == region or (
        not number.startswith("+") and parsed.country_code == phonenumbers.country_code_for_region(region))
    return phonenumbers.format_number(parsed, PhoneNumberFormat.NATIONAL if home else PhoneNumberFormat.INTERNATIONAL)


def party(call: dict, region: str) -> str:
    """A call's other end as people write its number, else 'number withheld' / 'number not known'."""
    number = call.get("remote_number") or call.get("dialed")
    if number:
        return readable(number, region)
    return "number withheld" if call.get("remote_withheld") else "number not known"


def search_digits(text: str, region: str) -> str:
    """What a typed number means as stored digits: '(415) 555-01' -> '41555501'; '+44 20 7946'
    -> '44207946'; a number in the box's own region written with its country code ('+1 415 555')
    -> its national digits ('415555'), as modems and dialing store them."""
    text = text.strip()
    digits = re.sub(r"[^0-9*#]", "", text)
    if text.startswith("+"):
        own = str(phonenumbers.country_code_for_region(region))
        if own != "0" and digits.startswith(own):
            return digits[len(own):]
    return digits


PUNCTUATION = re.compile(r"[\s\-.()/]")
# Keyed around a number on the handset: a star code before it (*67 hides the caller ID, *82
# shows it) and a '#' after it (dial now). The number dialed is the one between.
KEYED_AROUND = re.compile(r"^\*[0-9]{2}|#$")


def without_keyed_codes(dialed: str) -> str:
    """Dialed digits without a star code keyed before the number or a '#' after it."""
    return KEYED_AROUND.sub("", PUNCTUATION.sub("", dialed))


def international_digits(text: str, region: str) -> str:
    """A number (or its start, or a pattern with `?` and `*`) in one form: the digits after the
    '+' of its international form. On a US box '+1 415 555 0123', '(415) 555-0123',
    '1-415-555-0123' and '011 1 415 555 0123' are all '14155550123'; on a UK box '020 7946 0958'
    is '442079460958'. So caller ID, dialed digits and a typed number compare as the same number
    however each was written: the region's international prefix (011, 00) and national prefix
    (1, 0) are read as such. Other characters (`*`, `#`, `?`) are kept where they are."""
    text = PUNCTUATION.sub("", text)
    if text.startswith("+"):
        return text[1:]
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if meta is None:
        return text
    abroad = re.match(meta.international_prefix, text) if meta.international_prefix else None
    if abroad and abroad.end():
        return text[abroad.end():]
    if meta.national_prefix and text.startswith(meta.national_prefix):
        text = text[len(meta.national_prefix):]
    return f"{meta.country_code}{text}"


def core_digits(text: str, region: str) -> str:
    """The digits every stored form of a number contains (its national number: '4155550123' for
    '+1 415 555 0123'), to find the candidates before international_digits compares them."""
    key = international_digits(text, region)
    try:
        return str(phonenumbers.parse("+" + key).national_number)
    except NumberParseException:
        return key
