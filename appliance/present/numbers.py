"""Phone numbers as people write them, in the box's region: '4155550123' -> '(415) 555-0123' on
a US box, '+442079460958' -> '+44 20 7946 0958'; and any way of typing one, for search."""
from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat


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


def number_key(text: str | None, region: str) -> str:
    """One form for every way of writing the same number, to tell whether two are the same:
    '(415) 555-0123', '4155550123', '+1 415 555 0123' and '14155550123' on a US box all give
    '+14155550123'. What is not a possible phone number (an extension, a star code) is its
    digits, '*' and '#'; nothing gives ''."""
    digits = re.sub(r"[^0-9*#+]", "", text or "")
    if not digits:
        return ""
    try:
        parsed = phonenumbers.parse(digits, region)
        if phonenumbers.is_possible_number(parsed):
            return phonenumbers.format_number(parsed, PhoneNumberFormat.E164)
    except NumberParseException:
        pass
    return digits.lstrip("+")


def core_digits(text: str, region: str) -> str:
    """The digits every stored form of the number contains (its national number: '4155550123'),
    to find the candidates before number_key compares them."""
    key = number_key(text, region)
    if key.startswith("+"):
        return str(phonenumbers.parse(key).national_number)
    return key
