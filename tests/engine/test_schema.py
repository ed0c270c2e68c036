import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.schema import UNKNOWN, Schema, SchemaError, choice, class_schema, flag

SCHEMA = Schema(
    (
        choice("hair", {"black": 3, "blonde": 2, "blue": 1, "grey": 1}),
        choice("style", ["adventurer", "pixel-art"]),
        flag("smile", 0.7),
    )
)


def test_parses_text_case_and_space_insensitive():
    assert SCHEMA.parse("Hair : BLUE   smile:YES") == {"hair": "blue", "smile": "yes"}
    assert SCHEMA.parse("hair=blue style:Pixel_Art") == {"hair": "blue", "style": "pixel-art"}


def test_parses_json_object_and_string():
    assert SCHEMA.parse({"hair": "Blue", "smile": True}) == {"hair": "blue", "smile": "yes"}
    assert SCHEMA.parse('{"smile": "off"}') == {"smile": "no"}


@pytest.mark.parametrize("word,value", [("true", "yes"), ("on", "yes"), ("0", "no"), ("False", "no")])
def test_flag_aliases(word, value):
    assert SCHEMA.parse(f"smile:{word}") == {"smile": value}


def test_grey_gray_alias():
    assert SCHEMA.parse("hair:gray") == {"hair": "grey"}


def test_unknown_attribute_lists_known_ones():
    with pytest.raises(SchemaError, match="unknown attribute 'hat'; known attributes: hair, style, smile"):
        SCHEMA.parse("hat:yes")


def test_unknown_value_lists_allowed_and_closest():
    with pytest.raises(SchemaError) as err:
        SCHEMA.parse("hair:blu")
    assert "allowed: black, blonde, blue, grey" in str(err.value)
    assert "Did you mean 'blue'?" in str(err.value)


def test_repeated_attribute_is_an_error():
    with pytest.raises(SchemaError, match="more than once"):
        SCHEMA.parse("hair:blue HAIR:black")


@pytest.mark.parametrize("bad", ["hair", "hair:", ":blue", '{"hair": [1]}', "{not json", '["hair"]', 7])
def test_malformed_requests_raise_schema_error(bad):
    with pytest.raises(SchemaError):
        SCHEMA.parse(bad)


def test_sample_keeps_given_and_follows_prior():
    rng = np.random.default_rng(0)
    draws = [SCHEMA.sample({"hair": "blue"}, rng) for _ in range(2000)]
    assert all(d["hair"] == "blue" for d in draws)
    smile_rate = np.mean([d["smile"] == "yes" for d in draws])
    assert 0.65 < smile_rate < 0.75


def test_unknown_label_encodes_to_zero_block():
    vec = SCHEMA.encode({"hair": "blue"})
    assert vec.shape == (SCHEMA.dim,) and vec.sum() == 1.0
    assert SCHEMA.decode(vec) == {"hair": "blue"}
    assert SCHEMA.indices({})[0] == UNKNOWN


def test_json_round_trip():
    again = Schema.from_json(SCHEMA.to_json())
    assert again == SCHEMA


def test_malformed_stored_schema_is_refused():
    with pytest.raises(SchemaError, match="malformed"):
        Schema.from_json({"attributes": [{"name": "hair", "values": ["x"], "prior": [1]}]})


def test_class_schema():
    s = class_schema(3, [5, 3, 2])
    assert s.parse("class:2") == {"class": "2"}
    assert s.attribute("class").prior[0] == pytest.approx(0.5)


attribute_sets = st.fixed_dictionaries(
    {},
    optional={
        "hair": st.sampled_from(SCHEMA.attribute("hair").values),
        "style": st.sampled_from(SCHEMA.attribute("style").values),
        "smile": st.sampled_from(("yes", "no")),
    },
)


@given(attribute_sets)
def test_encode_decode_round_trip(attrs):
    assert SCHEMA.decode(SCHEMA.encode(attrs)) == attrs


@given(attribute_sets)
def test_text_round_trip(attrs):
    text = " ".join(f"{k}:{v}" for k, v in attrs.items())
    assert SCHEMA.parse(text) == attrs


@settings(max_examples=300)
@given(
    st.one_of(
        st.text(),
        st.dictionaries(
            st.text(), st.one_of(st.text(), st.integers(), st.booleans(), st.none(), st.floats())
        ),
    )
)
def test_junk_only_ever_raises_schema_error(junk):
    with contextlib.suppress(SchemaError):
        SCHEMA.parse(junk)


def test_moved_prior_mixes_in_the_label_frequencies_and_keeps_the_interface():
    schema = Schema((choice("hair", ["red", "blue"]), flag("smile", 0.5)))
    labels = np.array([[1, UNKNOWN], [1, UNKNOWN], [1, UNKNOWN], [0, UNKNOWN]])  # 3/4 blue; smile unknown
    moved = schema.with_priors_moved(labels, 0.25)
    assert moved.attribute("hair").prior == pytest.approx(
        (0.75 * 0.5 + 0.25 * 0.25, 0.75 * 0.5 + 0.25 * 0.75)
    )
    assert moved.attribute("smile").prior == schema.attribute("smile").prior  # no known label: unchanged
    assert moved != schema and moved.interface() == schema.interface()
    assert Schema.from_json(moved.to_json()) == moved
    assert schema.with_priors_moved(labels, 0.0) == schema
    with pytest.raises(ValueError):
        schema.with_priors_moved(labels, 1.5)


def test_interface_differs_when_values_or_aliases_differ():
    a = Schema((choice("hair", ["red", "blue"]),))
    assert a.interface() != Schema((choice("hair", ["red", "green"]),)).interface()
    assert a.interface() != Schema((choice("hair", ["red", "blue"], crimson="red"),)).interface()


HATS = Schema((choice("style", ["plain", "hatted"]), flag("hat", 0.5), choice("hair", ["red", "blue"])))
HAT_LABELS = np.array([[0, 0, 0], [0, 0, 1], [1, 0, 0], [1, 1, UNKNOWN], [1, 1, UNKNOWN], [1, 1, 1]])


def test_with_a_label_table_unset_attributes_come_from_a_row_that_agrees():
    joint = HATS.with_joint(HAT_LABELS)
    rng = np.random.default_rng(0)
    draws = [joint.sample({"hat": "yes"}, rng) for _ in range(300)]
    assert {d["style"] for d in draws} == {"hatted"}  # the prior alone would give "plain" half the time
    assert 0.55 < np.mean(["hair" not in d for d in draws]) < 0.78  # unlabelled under the hat: left unset
    assert all(joint.sample({"style": "plain", "hat": "yes"}, rng)["hat"] == "yes" for _ in range(20))


def test_a_label_table_survives_json_and_moves_with_the_prior():
    joint = HATS.with_joint(HAT_LABELS)
    again = Schema.from_json(joint.to_json())
    assert again.joint.rows.tolist() == joint.joint.rows.tolist()
    moved = joint.with_priors_moved(np.array([[0, 1, 1]]), 0.5)  # liked: plain style with a hat
    rng = np.random.default_rng(0)
    assert 0.3 < np.mean([moved.sample({"hat": "yes"}, rng)["style"] == "plain" for _ in range(300)]) < 0.7


def test_a_stored_label_table_that_does_not_fit_is_refused():
    stored = HATS.with_joint(HAT_LABELS).to_json()
    with pytest.raises(SchemaError, match="value the schema does not have"):
        Schema.from_json({**stored, "joint": {"0.2.0": 1}})
    with pytest.raises(SchemaError, match="malformed"):
        Schema.from_json({**stored, "joint": {"0.1": "x"}})


def test_a_model_offering_some_styles_never_draws_the_others_unasked_and_refuses_them_asked():
    joint = HATS.with_joint(HAT_LABELS)
    plain = joint.offering("style", ["plain"])
    assert plain.offered("style") == ("plain",) and plain.interface() == joint.interface()
    assert plain.joint.rows[:, 0].tolist() == [0, 0]  # the hatted rows are gone
    rng = np.random.default_rng(0)
    assert {plain.sample({}, rng)["style"] for _ in range(100)} == {"plain"}
    assert {plain.sample({"hat": "yes"}, rng)["style"] for _ in range(50)} == {"plain"}
    plain.check_offered({"style": "plain", "hair": "red"})
    with pytest.raises(SchemaError, match=r"style 'hatted' is not offered by this model.*offered: plain$"):
        plain.check_offered(plain.parse("style:hatted"))
    again = Schema.from_json(plain.to_json())
    with pytest.raises(SchemaError, match="not offered"):
        again.check_offered({"style": "hatted"})
    joint.check_offered({"style": "hatted"})  # both offered before


def test_offering_refuses_no_style_an_unknown_one_or_one_never_learnt():
    with pytest.raises(SchemaError, match="offer one or more of plain, hatted"):
        HATS.offering("style", [])
    with pytest.raises(SchemaError, match="not a value of 'style'"):
        HATS.offering("style", ["fancy"])
    plain = HATS.offering("style", ["plain"])
    with pytest.raises(SchemaError, match="'hatted' is not in this model's training data"):
        plain.offering("style", ["plain", "hatted"])


def test_a_fine_tune_keeps_a_style_not_offered_out_even_when_liked_pictures_hold_it():
    plain = HATS.with_joint(HAT_LABELS).offering("style", ["plain"])
    moved = plain.with_priors_moved(np.array([[1, 1, 1], [0, 0, 0]]), 0.5)
    assert moved.offered("style") == ("plain",)
    assert set(moved.joint.rows[:, 0].tolist()) == {0}
    # A set whose labels make the whole prior (share 1) is that set's own.
    assert HATS.with_priors_moved(np.array([[1, 1, 1]]), 1.0).offered("style") == ("hatted",)
