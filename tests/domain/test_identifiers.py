import pytest

from service.domain.errors import InvalidIdentifier
from service.domain.identifiers import Finess, GalisRef, Siret


@pytest.mark.parametrize("value", ["240000372", "160000253", "160013207", "2B0000020", " 240000372 ", "2b0000020"])
def test_valid_finess_is_accepted_and_normalised(value: str) -> None:
    assert Finess.parse(value).value == value.strip().upper()


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("240000373", "finess_checksum"),
        ("2A0000171", "finess_checksum"),
        ("000000000", "finess_all_zero"),
        ("24000037", "finess_length"),
        ("2400003721", "finess_length"),
        ("2C0000020", "finess_department"),
        ("200000000", "finess_department"),
        ("960000000", "finess_department"),
        ("24000O372", "finess_characters"),
    ],
)
def test_invalid_finess_names_the_rule_it_breaks(value: str, code: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        Finess.parse(value)
    assert caught.value.code == code


def test_finess_checksum_message_gives_expected_and_read_key() -> None:
    with pytest.raises(InvalidIdentifier, match=r"attendu 2, lu 3"):
        Finess.parse("240000373")


def test_finess_given_as_a_number_is_refused() -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        Finess.parse(240000372)
    assert caught.value.code == "identifier_not_text"


@pytest.mark.parametrize(
    ("value", "region"),
    [("240000372", "75"), ("2B0000020", "94"), ("010000065", "84"), ("970100046", "01"), ("980500052", "06")],
)
def test_region_is_derived_from_the_finess_geographique(value: str, region: str) -> None:
    assert Finess.parse(value).region_code == region


def test_wallis_et_futuna_has_no_ars() -> None:
    from tests.factories import finess

    number = Finess.parse(finess("9806"))
    with pytest.raises(InvalidIdentifier) as caught:
        _ = number.region_code
    assert caught.value.code == "finess_region_unmapped"


@pytest.mark.parametrize("value", ["73282932000074", "35600000000048", "35600000049837", "732 829 320 00074"])
def test_valid_siret_is_accepted(value: str) -> None:
    assert Siret.parse(value).value == value.replace(" ", "")


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("73282932000079", "siret_checksum"),
        ("35600000000055", "siret_checksum"),
        ("7328293200007", "siret_length"),
        ("00000000000000", "siret_all_zero"),
        ("7328293200007A", "siret_characters"),
    ],
)
def test_invalid_siret_names_the_rule_it_breaks(value: str, code: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        Siret.parse(value)
    assert caught.value.code == code


@pytest.mark.parametrize("value", ["1234567", "123456789", "1234567a", ""])
def test_galis_reference_is_exactly_eight_digits(value: str) -> None:
    with pytest.raises(InvalidIdentifier):
        GalisRef.parse(value)
    assert GalisRef.parse("01234567").value == "01234567"
