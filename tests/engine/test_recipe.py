"""Recipes: JSON round trip, migrations, hostile sidecars, atomic saves."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from engine.filters import REGISTRY, FilterSpec, Param, TanhRange
from engine.recipe import (
    NewerRecipeError,
    Recipe,
    RecipeError,
    Step,
    has_sidecar,
    read_sidecar,
    save_sidecar,
    sidecar_path,
    sidecar_stamp,
    write_sidecar,
)


def full_recipe(seed: int = 0) -> Recipe:
    """One step of every filter with random in-range parameters, agent probabilities on some."""
    rng = np.random.default_rng(seed)
    steps = []
    for i, (op, spec) in enumerate(REGISTRY.items()):
        params = {p.name: (rng.uniform(p.min, p.max, p.shape).tolist() if p.shape else float(rng.uniform(p.min, p.max)))
                  for p in spec.params}
        probs = None
        if i % 2 == 0:
            raw = rng.random(len(REGISTRY))
            probs = dict(zip(REGISTRY, (raw / raw.sum()).tolist()))
        steps.append(Step(op, params, enabled=i != 3, probs=probs))
    return Recipe(steps)


def test_json_round_trip(tmp_path: Path) -> None:
    rec = full_recipe()
    back = Recipe.loads(rec.dumps())
    assert back.to_json() == rec.to_json()
    assert [s.enabled for s in back] == [s.enabled for s in rec]
    path = tmp_path / "r.json"
    rec.save(path)
    assert Recipe.load(path).to_json() == rec.to_json()
    doc = json.loads(path.read_text())
    assert doc["format"] == 1 and all(s["version"] == REGISTRY[s["op"]].version for s in doc["steps"])


def test_missing_params_take_defaults_and_identity_steps_are_inactive() -> None:
    rec = Recipe.loads('{"format": 1, "steps": [{"op": "tone"}, {"op": "exposure", "params": {"ev": 0.5}}]}')
    assert rec.steps[0].params == REGISTRY["tone"].defaults()
    assert [s.op for s in rec.active()] == ["exposure"]


@pytest.fixture
def gain_filter(monkeypatch: pytest.MonkeyPatch) -> FilterSpec:
    """A temporary v3 filter whose v1 stored a linear ``gain`` and whose v2 named it ``stops``."""
    spec = FilterSpec(
        id="test_gain", label="Gain", short="g", version=3, description="test filter",
        params=(Param("ev", "EV", "EV", -4.0, 4.0, 0.0, "stops", TanhRange(-4, 4)),),
        math=lambda img, *, ev: img * 2.0**ev)

    @spec.migration(1)
    def _v1(p: dict) -> dict:  # v1: {"gain": linear factor}
        return {"stops": float(np.log2(p.pop("gain")))}

    @spec.migration(2)
    def _v2(p: dict) -> dict:  # v2: {"stops": ...}
        return {"ev": p["stops"]}

    monkeypatch.setitem(REGISTRY, spec.id, spec)
    return spec


def test_migrations_run_one_version_at_a_time(gain_filter: FilterSpec) -> None:
    v1 = Recipe.loads('{"format": 1, "steps": [{"op": "test_gain", "version": 1, "params": {"gain": 4.0}}]}')
    assert v1.steps[0].params == {"ev": pytest.approx(2.0)}
    v2 = Recipe.loads('{"format": 1, "steps": [{"op": "test_gain", "version": 2, "params": {"stops": -1}}]}')
    assert v2.steps[0].params == {"ev": -1.0}
    assert json.loads(v1.dumps())["steps"][0]["version"] == 3  # saved in the current version
    with pytest.raises(RecipeError, match=r"steps\[0\]\.version.*newer"):
        Recipe.loads('{"format": 1, "steps": [{"op": "test_gain", "version": 4, "params": {}}]}')


HOSTILE = {
    "huge number": ('{"format": 1, "steps": [{"op": "exposure", "params": {"ev": 1e308}}]}', r"steps\[0\]\.params\.ev"),
    "NaN literal": ('{"format": 1, "steps": [{"op": "exposure", "params": {"ev": NaN}}]}', r"steps\[0\]\.params\.ev"),
    "Infinity literal": ('{"format": 1, "steps": [{"op": "gamma", "params": {"gamma": -Infinity}}]}',
                         r"steps\[0\]\.params\.gamma"),
    "unknown filter": ('{"format": 1, "steps": [{"op": "rm -rf", "params": {}}]}', r"steps\[0\]\.op"),
    "unknown param": ('{"format": 1, "steps": [{"op": "exposure", "params": {"ev": 1, "x": 2}}]}',
                      r"steps\[0\]\.params"),
    "string number": ('{"format": 1, "steps": [{"op": "exposure", "params": {"ev": "1.0"}}]}',
                      r"steps\[0\]\.params\.ev"),
    "bool number": ('{"format": 1, "steps": [{"op": "exposure", "params": {"ev": true}}]}', r"steps\[0\]\.params\.ev"),
    "enabled type": ('{"format": 1, "steps": [{"op": "exposure", "enabled": "yes"}]}', r"steps\[0\]\.enabled"),
    "steps type": ('{"format": 1, "steps": {"op": "exposure"}}', r"steps"),
    "ragged array": ('{"format": 1, "steps": [{"op": "tone", "params": {"slopes": [[1, 1], [1]]}}]}',
                     r"steps\[0\]\.params\.slopes"),
    "wrong shape": ('{"format": 1, "steps": [{"op": "color_curves", "params": {"slopes": [1, 1, 1]}}]}',
                    r"steps\[0\]\.params\.slopes"),
    "nested value": ('{"format": 1, "steps": [{"op": "tone", "params": {"slopes": [1,1,1,1,1,1,1,[1]]}}]}',
                     r"steps\[0\]\.params\.slopes"),
    "bad probability": ('{"format": 1, "steps": [{"op": "exposure", "agent": {"probs": {"gamma": 7}}}]}',
                        r"steps\[0\]\.agent\.probs"),
    "newer format": ('{"format": 99, "steps": []}', r"format"),
    "no format": ('{"steps": []}', r"format"),
    "not an object": ("[1, 2, 3]", r"JSON object"),
    "not JSON": ("{'format': 1}", r"not valid JSON"),
    "too many steps": (json.dumps({"format": 1, "steps": [{"op": "exposure"}] * 1000}), r"steps"),
    "deep nesting": ('{"format": 1, "steps": ' + "[" * 100_000 + "]" * 100_000 + "}", r"nesting|steps"),
    "source list": ('{"format": 1, "steps": [{"op": "exposure", "source": ["auto-exposure"]}]}', r"steps\[0\]\.source"),
    "source object": ('{"format": 1, "steps": [{"op": "exposure", "source": {"a": 1}}]}', r"steps\[0\]\.source"),
    "huge integer": ('{"format": 1, "steps": [{"op": "exposure", "params": {"ev": 1' + "0" * 400 + '}}]}',
                     r"steps\[0\]\.params\.ev"),
    "huge probability": ('{"format": 1, "steps": [{"op": "exposure", "agent": {"probs": {"gamma": 1' + "0" * 400
                         + '}}}]}', r"steps\[0\]\.agent\.probs"),
}


@pytest.mark.parametrize("text, field", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_recipe_raises_naming_file_and_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "bad.retouch.json"
    path.write_text(text)
    with pytest.raises(RecipeError, match=field) as info:
        Recipe.load(path)
    assert str(path) in str(info.value) and info.value.path == path


def test_oversized_file_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b'{"format": 1, "steps": [' + b" " * 10_000_000 + b"]}")
    with pytest.raises(RecipeError, match="bytes") as info:
        Recipe.load(path)
    assert str(path) in str(info.value)


def test_bad_sidecar_is_moved_aside_never_overwritten(photo_jpeg: Path, tmp_copy) -> None:
    photo = tmp_copy(photo_jpeg)
    sc = sidecar_path(photo)
    assert sc.name == "dune.jpg.retouch.json"
    hostile = '{"format": 1, "steps": [{"op": "exposure", "params": {"ev": NaN}}]}'
    sc.write_text(hostile)
    with pytest.raises(RecipeError, match=r"dune\.jpg\.retouch\.json.*steps\[0\]\.params\.ev"):
        read_sidecar(photo)
    kept = list(photo.parent.glob("dune.jpg.retouch.json.bad-*"))
    assert not sc.exists() and len(kept) == 1 and kept[0].read_text() == hostile
    assert read_sidecar(photo) is None  # the photo now opens without a recipe
    write_sidecar(photo, full_recipe())
    assert kept[0].read_text() == hostile  # the user's old file survives the next save
    assert read_sidecar(photo).to_json() == full_recipe().to_json()


@pytest.mark.parametrize("newer", [
    '{"format": 99, "steps": []}',
    '{"format": 1, "steps": [{"op": "exposure", "version": 7, "params": {"ev": 0.5}}]}',
    '{"format": 1, "steps": [{"op": "restore", "params": {}}]}',  # a filter a later Retouch adds
])
def test_a_newer_retouchs_sidecar_stays_where_it_is(photo_jpeg: Path, tmp_copy, newer: str) -> None:
    """Set aside, the newer Retouch would find the photo unedited: its edits must keep their name."""
    photo = tmp_copy(photo_jpeg)
    sc = sidecar_path(photo)
    sc.write_text(newer)
    with pytest.raises(NewerRecipeError, match="newer Retouch wrote it"):
        read_sidecar(photo)
    assert sc.read_text() == newer and not list(photo.parent.glob("*.bad-*"))


def test_two_bad_sidecars_set_aside_in_one_second_are_both_kept(photo_jpeg: Path, tmp_copy, monkeypatch) -> None:
    """The kept name has one-second resolution: a second bad file in the same second gets ``-2``,
    never replacing the first."""
    import time

    monkeypatch.setattr(time, "strftime", lambda *_a: "20261206-010203")
    photo = tmp_copy(photo_jpeg)
    sc = sidecar_path(photo)
    for text in ("first {", "second {"):
        sc.write_text(text)
        with pytest.raises(RecipeError, match="set aside as"):
            read_sidecar(photo)
    kept = sorted(photo.parent.glob("dune.jpg.retouch.json.bad-*"))
    assert [k.read_text() for k in kept] == ["first {", "second {"]
    assert kept[1].name.endswith("-010203-2") and not sc.exists()


def test_a_sidecar_that_is_not_a_regular_file_is_refused_unread(photo_jpeg: Path, tmp_copy) -> None:
    """A FIFO under a sidecar's name would block the read for ever (the app reads on open)."""
    photo = tmp_copy(photo_jpeg)
    os.mkfifo(sidecar_path(photo))
    with pytest.raises(RecipeError, match="not a regular file"):
        Recipe.load(sidecar_path(photo))


def test_an_edited_mark_round_trips_and_is_checked() -> None:
    rec = Recipe([Step("exposure", {"ev": 0.3}, source="auto-exposure", edited=True), Step("gamma", {"gamma": 1.1})])
    doc = json.loads(rec.dumps())
    assert doc["steps"][0]["edited"] is True and "edited" not in doc["steps"][1]  # older readers ignore the key
    back = Recipe.loads(rec.dumps())
    assert [s.edited for s in back] == [True, False]
    doc["steps"][0]["edited"] = "yes"
    with pytest.raises(RecipeError, match=r"steps\[0\]\.edited"):
        Recipe.loads(json.dumps(doc))


def test_a_pasted_recipe_may_start_with_a_byte_order_mark() -> None:
    rec = full_recipe()
    assert Recipe.loads("\ufeff" + rec.dumps()).to_json() == rec.to_json()


def test_atomic_save_leaves_no_temp_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "r.json"
    full_recipe(1).save(path)
    full_recipe(2).save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
    before = path.read_bytes()

    def crash(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        full_recipe(3).save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
    assert path.read_bytes() == before


def test_copy_is_deep() -> None:
    rec = full_recipe()
    dup = rec.copy()
    next(s for s in dup.steps if s.op == "tone").params["slopes"][0] = 1.9
    assert rec.to_json() != dup.to_json()


def test_step_source_round_trips_and_unknown_sources_are_refused(tmp_path) -> None:
    from engine.recipe import Recipe, RecipeError, Step

    r = Recipe([Step("exposure", {"ev": 1.0}, source="auto-exposure"), Step.default("gamma")])
    back = Recipe.loads(r.dumps())
    assert [s.source for s in back] == ["auto-exposure", None]
    doc = r.to_json()
    doc["steps"][0]["source"] = "evil" * 100
    with pytest.raises(RecipeError, match=r"steps\[0\]\.source"):
        Recipe.from_json(doc, path=tmp_path / "x.retouch.json")


def test_strength_moves_parameters_from_their_defaults():
    from engine.filters import REGISTRY

    wb = REGISTRY["white_balance"]
    assert wb.toward_default({"green": 1.21, "blue": 0.64}, 0.0) == {"green": 1.0, "blue": 1.0}
    half = wb.toward_default({"green": 1.21, "blue": 0.64}, 0.5)  # gains move geometrically
    assert half["green"] == pytest.approx(1.1) and half["blue"] == pytest.approx(0.8)
    tone = REGISTRY["tone"].toward_default({"slopes": [2.0] * 8}, 0.25)
    assert tone["slopes"] == pytest.approx([1.25] * 8)
    ev = REGISTRY["exposure"].param("ev")
    assert REGISTRY["exposure"].toward_default({"ev": 3.0}, 2.0)["ev"] == ev.max  # exaggerated, clipped

    probs = {"contrast": 0.8, "exposure": 0.2}
    r = Recipe([Step("exposure", {"ev": 1.0}, source="auto-exposure"),
                Step("contrast", {"amount": 0.4}, probs=probs),
                Step("saturation", {"amount": 0.6})])  # a user's step
    s = r.with_strength(0.5)
    assert [x.params for x in s] == [{"ev": 1.0}, {"amount": pytest.approx(0.2)}, {"amount": 0.6}]
    assert s.steps[1].probs == probs and s.steps[0].source == "auto-exposure"
    assert r.steps[1].params == {"amount": 0.4}  # the original is untouched
    assert r.with_strength(0.0).steps[1].is_identity()


def test_runner_up_is_the_likeliest_other_filter():
    """A step's runner-up is the agent's likeliest filter besides the one taken, also when a
    variation drew a less likely filter (the runner-up is then the agent's first choice)."""
    from engine.auto_cli import describe

    probs = {"gamma": 0.6, "contrast": 0.3, "saturation": 0.1}
    top, drawn = Step("gamma", {"gamma": 1.1}, probs=probs), Step("saturation", {"amount": 0.2}, probs=probs)
    assert top.runner_up() == ("contrast", 0.3)
    assert drawn.runner_up() == ("gamma", 0.6)
    assert Step("gamma", {"gamma": 1.1}, probs={"gamma": 1.0}).runner_up() is None
    assert Step("gamma", {"gamma": 1.1}).runner_up() is None
    lines = describe(Recipe([top, drawn])).splitlines()
    assert lines[0].endswith("(60 %; next Contrast 30 %)")
    assert lines[1].endswith("(10 %; first choice Gamma 60 %)")


def test_curve_steps_are_described_by_what_they_do_to_grey():
    """``retouch auto`` prints a curve as its effect at sRGB 25 / 50 / 75 %, not 8 or 24 slopes.

    Worked by hand: slopes (2, 2, 1, ...) scale the first quarter of the linear range by 1.6, so
    sRGB 25 % (linear 0.051) becomes linear 0.081, sRGB 31.6 %: +7 points; sRGB 75 % (linear 0.522)
    becomes 0.4 + 0.272 × 0.8 = 0.618, sRGB 80.8 %: +6."""
    from engine.auto_cli import _zones, describe

    assert _zones(Step("tone", {"slopes": [2, 2, 1, 1, 1, 1, 1, 1]})) == "shadows +7, midtones +12, highlights +6"
    assert _zones(Step("tone", {"slopes": [1.3] * 8})) == "flat"  # equal slopes: identity
    # Under half a point at the three zones, it says where it acts: the last slope 1.05 (the slopes
    # share the range by their sum, 8.05) pulls linear 7/8 down to 0.875 / 1.00625 = 0.8696, sRGB
    # 94.2 % down by 0.0054 x the curve's slope there (0.475): 0.26 points.
    tail = Step("tone", {"slopes": [1] * 7 + [1.05]})
    assert _zones(tail) == "nearly flat (at most -0.3 points, at sRGB 94 %, in the highlights)"
    blue = [1.1] * 4 + [0.9] * 4  # the blue curve lifted below linear 0.5, flatter above
    line = describe(Recipe([Step("color_curves", {"slopes": [[1] * 8, [1] * 8, blue]})]))
    assert line == "  1. Colour curves: shadows R0 G0 B+1, midtones R0 G0 B+2, highlights R0 G0 B+3"


def test_a_small_value_is_printed_to_its_first_digit_not_as_zero():
    """A black & white of 0.004 read "amount 0.00", yet moved 6.5 % of a photo's pixels by two
    levels: a value two decimals would show as zero gets its first significant digit."""
    from engine.auto_cli import describe

    lines = describe(Recipe([Step("black_white", {"amount": 0.004}), Step("exposure", {"ev": -0.0004}),
                             Step("saturation", {"amount": 0.0}), Step("gamma", {"gamma": 1.1})])).splitlines()
    assert lines == ["  1. Black & white: amount 0.004", "  2. Exposure: ev -0.0004", "  3. Saturation: amount 0.00",
                     "  4. Gamma: gamma 1.10"]


def test_a_white_balance_is_printed_as_the_cards_temp_and_tint():
    """The card shows Temp and Tint, so the printed recipe does: signed whole points, rounded as the
    card's field rounds them, and a near-neutral balance as "0" (it read "-0")."""
    from engine.auto_cli import describe
    from engine.filters.white_balance import from_temp_tint

    steps = [Step("white_balance", from_temp_tint({"temperature": 50.0, "tint": -12.0})),
             Step("white_balance", {"green": 1.003, "blue": 1.004}),
             Step("white_balance", from_temp_tint({"temperature": 2.6, "tint": -0.6}))]
    assert describe(Recipe(steps)).splitlines() == [
        "  1. White balance: temp +50, tint -12", "  2. White balance: temp 0, tint 0",
        "  3. White balance: temp +3, tint -1"]


def test_a_curves_largest_move_between_the_three_levels_is_named():
    """A bump between sRGB 75 % and white read "flat" at the three levels ("highlights +2" for one
    that peaks at +4): its largest move is named. By hand: slopes (1 x 6, 1.5, 0.5) keep linear
    0.75, lift 0.875 (sRGB 94.3 %) to 0.9375 (sRGB 97.2 %): +3 points, and give white back."""
    from engine.auto_cli import _zones

    assert _zones(Step("tone", {"slopes": [1] * 6 + [1.5, 0.5]})) == \
        "shadows 0, midtones 0, highlights 0, most +3 at sRGB 94 %"
    assert _zones(Step("color_curves", {"slopes": [[1] * 8, [1] * 8, [1] * 6 + [1.5, 0.5]]})) == \
        "shadows 0, midtones 0, highlights 0, most B+3 at sRGB 94 %"
    assert _zones(Step("tone", {"slopes": [2, 2, 1, 1, 1, 1, 1, 1]})) == "shadows +7, midtones +12, highlights +6"


def test_a_recipe_that_would_not_read_back_is_never_saved(tmp_path: Path) -> None:
    """A value just outside its range (0.33 for a gamma declared from 1/3) would be refused, and the
    sidecar set aside, on the next open: saving refuses it instead, and the old file stays."""
    sc = tmp_path / "p.jpg.retouch.json"
    write_sidecar(tmp_path / "p.jpg", full_recipe())
    before = sc.read_bytes()
    with pytest.raises(RecipeError, match=r"steps\[0\]\.params\.gamma"):
        Recipe([Step("gamma", {"gamma": 0.33})]).save(sc)
    assert sc.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == [sc.name]


def test_a_sidecar_changed_since_it_was_known_is_kept_before_a_save(tmp_path: Path) -> None:
    photo = tmp_path / "p.jpg"
    mine, theirs = Recipe([Step("exposure", {"ev": 0.5})]), Recipe([Step("gamma", {"gamma": 1.2})])
    stamp, kept = save_sidecar(photo, mine, None)
    assert kept is None and stamp == sidecar_stamp(photo)
    stamp, kept = save_sidecar(photo, mine, stamp)  # unchanged since: written over, nothing kept
    assert kept is None
    theirs.save(sidecar_path(photo))
    stamp, kept = save_sidecar(photo, Recipe(), stamp)  # all steps gone here, changed there
    assert Recipe.load(kept).to_json() == theirs.to_json() and stamp is None and not has_sidecar(photo)


@pytest.mark.parametrize("links", [True, False], ids=["hard-link", "no-hard-links"])
def test_a_changed_sidecar_stays_the_photos_when_the_save_over_it_fails(tmp_path: Path, monkeypatch, links) -> None:
    """A full disk: the other program's sidecar had been set aside before the write failed, leaving
    the photo with none (Batch Export then gave it Auto)."""
    import engine.recipe as recipe_mod

    photo = tmp_path / "p.jpg"
    stamp, _ = save_sidecar(photo, Recipe([Step("exposure", {"ev": 0.5})]), None)
    theirs = Recipe([Step("gamma", {"gamma": 1.2})])
    theirs.save(sidecar_path(photo))

    def full(path, data):
        raise OSError(28, "No space left on device")

    if not links:
        def no_link(src, dst):
            raise OSError(1, "Operation not permitted")
        monkeypatch.setattr(recipe_mod.os, "link", no_link)
    monkeypatch.setattr(recipe_mod, "atomic_write_bytes", full)
    for _ in range(2):  # the next edit's save fails too: still no copies piling up
        with pytest.raises(OSError, match="No space"):
            save_sidecar(photo, Recipe([Step("exposure", {"ev": 0.7})]), stamp)
        assert read_sidecar(photo).to_json() == theirs.to_json()
        assert [p.name for p in tmp_path.iterdir()] == [sidecar_path(photo).name]
    monkeypatch.undo()
    stamp, kept = save_sidecar(photo, Recipe([Step("exposure", {"ev": 0.7})]), stamp)  # room again
    assert Recipe.load(kept).to_json() == theirs.to_json() and read_sidecar(photo).steps[0].params["ev"] == 0.7


def test_a_recipe_is_written_in_the_lowest_format_that_holds_it() -> None:
    """Format 2 adds the "pasted" source, 3 the "picked" one; an older reader sets a document it
    cannot read aside as damaged, so only a recipe with such a step is written in the newer format."""
    plain = Recipe([Step("exposure", {"ev": 0.5}, source="auto-exposure")])
    pasted = Recipe([Step("exposure", {"ev": 0.5}, source="pasted")])
    picked = Recipe([pasted.steps[0], Step("white_balance", {"green": 1.1, "blue": 0.9}, source="picked")])
    assert plain.to_json()["format"] == 1 and pasted.to_json()["format"] == 2 and picked.to_json()["format"] == 3
    assert Recipe.loads(pasted.dumps()).steps[0].source == "pasted"
    assert [s.source for s in Recipe.loads(picked.dumps())] == ["pasted", "picked"]
    assert Recipe.loads(plain.dumps()).to_json() == plain.to_json()
    with pytest.raises(NewerRecipeError):
        Recipe.loads('{"format": 4, "steps": []}')
