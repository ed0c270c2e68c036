import pytest

from engine.errors import MascotError
from engine.models import get_family
from engine.models.base import typed_arch_value


def test_arch_values_are_read_as_their_fields_types():
    assert typed_arch_value("g_tanh", "false", bool) is False  # a bare word, not a truthy string
    assert typed_arch_value("g_tanh", "Yes", bool) is True
    assert typed_arch_value("aux_weight", 1, float) == 1.0 and isinstance(
        typed_arch_value("w", 1, float), float
    )
    assert typed_arch_value("blocks", [3, 2], tuple[int, ...]) == (3, 2)
    with pytest.raises(MascotError, match=r"takes true or false, got 'maybe'"):
        typed_arch_value("g_tanh", "maybe", bool)
    with pytest.raises(MascotError, match=r"takes a whole number, got True"):
        typed_arch_value("g_ch", True, int)
    with pytest.raises(MascotError, match=r"blocks takes a tuple like \(1, 2\), got \[3, '2'\]"):
        typed_arch_value("blocks", [3, "2"], tuple[int, ...])


def test_a_family_types_a_whole_table_and_names_where_it_came_from():
    projected = get_family("projected")
    values = projected.arch_values(
        {"g_tanh": "off", "blocks": [6, 9], "aux_weight": 1}, "'p/model.json' arch"
    )
    assert values == {"g_tanh": False, "blocks": (6, 9), "aux_weight": 1.0}
    projected.Arch(**values)  # builds
    with pytest.raises(MascotError, match=r"'p/model.json' arch g_tanh takes true or false, got 'false!'"):
        projected.arch_values({"g_tanh": "false!"}, "'p/model.json' arch")
    with pytest.raises(MascotError, match=r"unknown --arch setting"):
        projected.arch_values({"g_tahn": False}, "--arch")
