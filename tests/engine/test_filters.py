"""Every registered filter gets the same checks for free (parametrized over REGISTRY), plus the
paper's known values per filter (shared/research/exposure.md §1). Images are the real fixture photo."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from engine.filters import AGENT_FILTERS, LUMA, REGISTRY, FilterSpec

SPECS = list(REGISTRY.values())
ids = pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])


def interior_params(spec: FilterSpec, rng: np.random.Generator, margin: float = 0.15, *,
                    network: bool = False) -> dict:
    """Random parameters inside each declared range (``network``: the part a network's output
    reaches), away from its ends (the open ends of the mappings)."""
    out = {}
    for p in spec.params:
        a, b = p.network_range if network else (p.min, p.max)
        lo, hi = a + margin * (b - a), b - margin * (b - a)
        v = rng.uniform(lo, hi, p.shape)
        out[p.name] = v.tolist() if p.shape else float(v)
    return out


@pytest.fixture(scope="module")
def patch(photo_linear: np.ndarray) -> np.ndarray:
    """A 48x64 crop of the real photo (linear), float64 for tight comparisons."""
    return photo_linear[100:148, 200:264].astype(np.float64)


def test_agent_filters_are_the_papers_eight() -> None:
    # NB: the order is alphabetical since ruff sorted the registering imports; models store the
    # order they were trained with in their metadata, so only the set and head widths are pinned.
    paper = {"exposure": 1, "gamma": 1, "white_balance": 2, "saturation": 1, "tone": 8, "contrast": 1,
             "black_white": 1, "color_curves": 24}
    assert {f: REGISTRY[f].n_outputs for f in AGENT_FILTERS} == paper
    assert len(AGENT_FILTERS) == 8


@ids
def test_declaration_is_complete(spec: FilterSpec) -> None:
    assert spec.label and spec.description and spec.version >= 1 and spec.pointwise
    assert 1 <= spec.trained_version <= spec.version
    for p in spec.params:
        assert p.min < p.max and p.min <= p.default <= p.max, p
        lo, hi = p.network_range  # the agent's reach: inside what the photographer can set
        assert p.min <= lo < hi <= p.max and lo <= p.default <= hi, p
        assert p.label and p.description


@ids
def test_defaults_are_identity(spec: FilterSpec, patch: np.ndarray) -> None:
    patch = np.concatenate([patch, patch * 3e-3])  # plus a 8-stops-darker copy: deep shadows
    out = np.asarray(spec.apply(patch, **spec.defaults()))
    # gamma v1 floored its input at 0.001 (the paper's guard against an infinite slope at 0), so
    # even gamma 1 lifted the deepest shadows; v2's straight toe below it is the identity at 1
    # rtol: white balance divides by 1e-5 + luminance of the gains (the paper's epsilon) = 1.00001
    np.testing.assert_allclose(out, patch, rtol=2e-5, atol=1e-9)
    assert (patch < 0.001).mean() > 0.1  # the floor is exercised


@ids
def test_from_network_maps_any_raw_into_the_declared_range(spec: FilterSpec) -> None:
    rng = np.random.default_rng(1)
    raw = np.concatenate([rng.normal(0, 3, (64, spec.n_outputs)), np.full((1, spec.n_outputs), 40.0),
                          np.full((1, spec.n_outputs), -40.0), np.zeros((1, spec.n_outputs))])
    params = spec.from_network(raw)
    assert set(params) == {p.name for p in spec.params}
    for p in spec.params:
        v = np.asarray(params[p.name])
        assert v.shape == (raw.shape[0], *p.shape)
        assert np.isfinite(v).all()
        lo, hi = p.network_range
        assert v.min() >= lo - 1e-9 and v.max() <= hi + 1e-9, p.name
        # the extremes of raw reach the ends of the range
        assert v[-3].min() > hi - 0.05 * (hi - lo) and v[-2].max() < lo + 0.05 * (hi - lo)
    # fit's reach: the same curves over the photographer's whole range, raw 0 still the default
    whole = spec.from_network(raw, whole=True)
    for p in spec.params:
        v = np.asarray(whole[p.name])
        assert v.min() >= p.min - 1e-9 and v.max() <= p.max + 1e-9, p.name
        assert v[-3].min() > p.max - 0.05 * (p.max - p.min) and v[-2].max() < p.min + 0.05 * (p.max - p.min)
        if getattr(p.mapping, "initial", None) is not None:
            np.testing.assert_allclose(v[-1], p.default, atol=1e-9)


@ids
def test_to_network_round_trips(spec: FilterSpec) -> None:
    rng = np.random.default_rng(2)
    for _ in range(5):
        params = interior_params(spec, rng, network=True)
        back = spec.from_network(spec.to_network(params)[None])
        for p in spec.params:
            np.testing.assert_allclose(np.asarray(back[p.name])[0], params[p.name], rtol=1e-4, atol=1e-5)


@ids
def test_numpy_and_torch_agree(spec: FilterSpec, patch: np.ndarray) -> None:
    torch = pytest.importorskip("torch")
    params = interior_params(spec, np.random.default_rng(3))
    ref = np.asarray(spec.apply(patch, **params))
    out = spec.apply(torch.from_numpy(patch), **{k: torch.tensor(v, dtype=torch.float64) for k, v in params.items()})
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10, atol=1e-12)
    f32 = spec.apply(torch.from_numpy(patch.astype(np.float32)), **params)
    assert f32.dtype == torch.float32


@ids
def test_gradcheck(spec: FilterSpec, patch: np.ndarray) -> None:
    torch = pytest.importorskip("torch")
    img = torch.tensor(patch[:2, :3], dtype=torch.float64, requires_grad=True)
    params = interior_params(spec, np.random.default_rng(4))
    names = list(params)
    tensors = [torch.tensor(params[n], dtype=torch.float64, requires_grad=True) for n in names]

    def fn(x, *ps):
        return spec.apply(x, **dict(zip(names, ps)))

    assert torch.autograd.gradcheck(fn, (img, *tensors), eps=1e-6, atol=1e-5)


BLOWN_SPECS = [s for s in SPECS if s.uses_blown]


@pytest.mark.parametrize("spec", BLOWN_SPECS, ids=[s.id for s in BLOWN_SPECS])
def test_the_blown_white_path_agrees_in_numpy_and_torch_and_differentiates(spec: FilterSpec, patch: np.ndarray) -> None:
    """What replay and ``fit`` pass (``blown=``): the parity and gradient tests above leave it out."""
    torch = pytest.importorskip("torch")
    from engine.filters.white_balance import blown

    img = patch.copy()
    img[:16] = np.clip(img[:16] * 40.0, 0.0, 1.0)  # a band clipped white, some of it in every channel
    weight = np.asarray(blown(img))
    assert (weight > 0.99).mean() > 0.05 and (weight < 0.01).mean() > 0.3  # both paths are exercised
    params = interior_params(spec, np.random.default_rng(6))
    ref = np.asarray(spec.apply(img, blown=weight, **params))
    assert not np.allclose(ref, spec.apply(img, **params))  # the weight changes the result
    t = {k: torch.tensor(v, dtype=torch.float64) for k, v in params.items()}
    out = spec.apply(torch.from_numpy(img), blown=torch.from_numpy(weight), **t)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10, atol=1e-12)
    names = list(params)
    x = torch.tensor(img[15:17, :3], dtype=torch.float64, requires_grad=True)  # across the band's edge
    ps = [torch.tensor(params[n], dtype=torch.float64, requires_grad=True) for n in names]

    def fn(x, *ps):
        return spec.apply(x, blown=blown(x), **dict(zip(names, ps)))

    assert torch.autograd.gradcheck(fn, (x, *ps), eps=1e-6, atol=1e-5)


@ids
def test_batch_matches_single_images(spec: FilterSpec, patch: np.ndarray) -> None:
    rng = np.random.default_rng(5)
    imgs = np.stack([patch, patch[::-1, ::-1] * 0.7])
    per = [interior_params(spec, rng) for _ in range(2)]
    batched = {p.name: np.stack([np.asarray(q[p.name], np.float64) for q in per]) for p in spec.params}
    out = np.asarray(spec.apply(imgs, **batched))
    assert out.shape == imgs.shape
    for i in range(2):
        np.testing.assert_allclose(out[i], spec.apply(imgs[i], **per[i]), rtol=1e-12, atol=1e-12)
    # one parameter set shared by the whole batch
    shared = np.asarray(spec.apply(imgs, **per[0]))
    np.testing.assert_allclose(shared[1], spec.apply(imgs[1], **per[0]), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Known values from the paper's formulas


def apply(op: str, img: np.ndarray, **params) -> np.ndarray:
    return np.asarray(REGISTRY[op].apply(np.asarray(img, np.float64), **params))


def test_exposure_plus_one_doubles(patch: np.ndarray) -> None:
    np.testing.assert_allclose(apply("exposure", patch, ev=1.0), 2 * patch, rtol=1e-12)
    np.testing.assert_allclose(apply("exposure", patch, ev=-3.5), patch * 2**-3.5, rtol=1e-12)


def test_gamma_is_a_power_with_a_straight_toe_to_black() -> None:
    """v1 read every value below 0.001 as 0.001: black came out at level 50 of 255 at gamma 0.5,
    and the deepest shadows merged into one flat level. v2: a straight line through black that
    meets the power law at 0.001, so black stays black and the shadows keep their order."""
    x = np.array([[[0.0, 0.0005, 0.25]]])
    np.testing.assert_allclose(apply("gamma", x, gamma=0.5), [[[0.0, 0.0005 / math.sqrt(0.001), 0.5]]])
    np.testing.assert_allclose(apply("gamma", x, gamma=3.0)[..., 2], 0.25**3)
    ramp = np.linspace(0, 0.004, 401).reshape(1, -1, 1).repeat(3, -1)
    for g in (1 / 3, 0.5, 0.85, 1.0, 2.0, 3.0):
        y = apply("gamma", ramp, gamma=g)[0, :, 0]
        assert y[0] == 0 and np.all(np.diff(y) > 0)  # black stays black; no two shadows merge
        at = np.searchsorted(ramp[0, :, 0], 0.001)
        np.testing.assert_allclose(y[at - 1: at + 2], ramp[0, at - 1: at + 2, 0] ** g, rtol=0.05)  # continuous


def test_white_balance_keeps_grey_luminance_and_scales_channels(patch: np.ndarray) -> None:
    g, b = 1.3, 0.8
    out = apply("white_balance", patch, green=g, blue=b)
    norm = 1e-5 + LUMA[0] + LUMA[1] * g + LUMA[2] * b
    np.testing.assert_allclose(out, patch * np.array([1, g, b]) / norm, rtol=1e-12)
    grey = np.full((1, 1, 3), 0.5)
    lum = (apply("white_balance", grey, green=g, blue=b) * LUMA).sum()
    assert lum == pytest.approx(0.5, rel=1e-4)


@ids
def test_sliders_show_every_stored_value_and_give_it_back(spec: FilterSpec) -> None:
    """A filter's sliders (its View, or its parameters) show the parameters stored, at the defaults'
    place for the defaults; moving one slider to what it shows changes nothing. A View's every
    corner can be stored, and shows again as set."""
    rng = np.random.default_rng(7)
    assert {p.name for p in spec.sliders} and all(p.label and p.description for p in spec.sliders)
    assert spec.slider_values(spec.defaults()) == {p.name: p.default_value() for p in spec.sliders}
    if spec.view is None:
        samples = [interior_params(spec, rng, 0.0) for _ in range(20)]
    else:
        for p in spec.view.params:
            assert p.mapping is None and not p.shape  # what no network outputs: a scalar slider
            assert p.name not in {q.name for q in spec.params}
        names = [p.name for p in spec.view.params]
        corners = itertools.product(*[(p.min, p.max) for p in spec.view.params])
        ends = [dict(zip(names, c, strict=True)) for c in corners]
        inside = [{p.name: float(rng.uniform(p.min, p.max)) for p in spec.view.params} for _ in range(20)]
        samples = []
        for sliders in ends + inside:
            params = spec.defaults()
            for name, value in sliders.items():
                params.update(spec.edit(params, name, value))
            assert spec.slider_values(params) == pytest.approx(sliders, abs=1e-9)  # nothing gave way
            samples.append(params)
    for params in samples:
        for name, value in spec.slider_values(params).items():
            for k, v in spec.edit(params, name, value).items():
                np.testing.assert_allclose(v, params[k], rtol=1e-9)


def test_white_balance_temp_warms_along_the_daylight_line_and_tint_turns_magenta() -> None:
    """Temp and Tint as Lightroom's: a positive Temp warms a grey along the daylight locus (red up,
    blue down, green between, at the locus's 0.36) and leaves its tint alone; a positive Tint makes
    it magenta (green down against that line) and leaves its temperature alone. 100 points of Temp
    are about daylight to tungsten. Every gain version 4 stored shows inside the sliders."""
    spec = REGISTRY["white_balance"]
    grey = np.full((1, 1, 3), 0.4)

    def grey_after(**sliders: float) -> np.ndarray:
        params = spec.defaults()
        for name, value in sliders.items():
            params.update(spec.edit(params, name, value))
        return np.log(apply("white_balance", grey, **params)[0, 0])

    r, g, b = grey_after(temperature=40)
    # the locus (linear sRGB, from 5500 K to 3000 K): red over green rises 0.565 where red over blue does 1.587
    assert r > g > b and (r - g) / (r - b) == pytest.approx(0.565 / 1.587, abs=0.01)
    assert spec.slider_values(spec.edit(spec.defaults(), "temperature", 40))["tint"] == pytest.approx(0, abs=1e-9)
    r, g, b = grey_after(tint=40)
    assert g < r == pytest.approx(b)
    r, g, b = grey_after(temperature=-100)
    # ln(red/blue) moves 0.0104 per mired along the locus: 144 mired, 5500 K daylight to 3100 K
    assert b - r == pytest.approx(1.5)
    # a pair of gains past the sliders' ends (a fit searches the gains' whole range) shows at the
    # end, and a Temp move keeps its stored tint: it jumped to the shown one, a strong colour change
    odd = {"green": spec.param("green").min, "blue": spec.param("blue").max}
    tint = spec.view.to_view(odd)["tint"]
    assert tint > 150 and spec.slider_values(odd)["tint"] == 150
    assert spec.view.to_view({**odd, **spec.edit(odd, "temperature", -149)})["tint"] == pytest.approx(tint, abs=1)
    v4 = (math.exp(-1.5), math.exp(1.5))  # the gains version 4 could store: none is shown clipped
    for green, blue in itertools.product(v4, v4):
        shown = spec.slider_values({"green": green, "blue": blue})
        assert spec.view.from_view(shown) == pytest.approx({"green": green, "blue": blue})


def test_a_curve_point_moves_alone_while_its_zones_have_room_then_the_nearest_give_way() -> None:
    """A point curve's drag on the paper's 8-zone curve (the app's curve editors): the point goes
    where it is asked and the other points stay while the two zones beside it have room; beyond,
    the nearest zones give way and the curve's ends stay at black and white; past all their room
    it stops. Asked to stay where it is, it changes nothing at all (not even by a rounding, which
    made an undo entry and marked Auto's step as edited)."""
    from engine.filters.base import curve_knots, move_knot

    rng = np.random.default_rng(3)
    for _ in range(200):
        slopes = rng.uniform(0.5, 2.0, 8)
        k = int(rng.integers(1, 8))
        assert np.array_equal(move_knot(slopes, k, curve_knots(slopes)[k, 1], 0.5, 2.0), slopes)
    flat = np.ones(8)
    near = move_knot(flat, 4, 0.55, 0.5, 2.0)
    y = curve_knots(near)[:, 1]
    assert y[4] == pytest.approx(0.55) and np.delete(y, 4) == pytest.approx(np.delete(np.arange(9) / 8, 4))
    far = move_knot(flat, 4, 0.7, 0.5, 2.0)  # past the room beside it (0.5 + 0.5 / 8)
    y = curve_knots(far)[:, 1]
    assert y[4] == pytest.approx(0.7) and far.sum() == pytest.approx(8) and (y[0], y[8]) == (0, 1)
    assert far == pytest.approx([1, 1, 1.6, 2, 0.5, 0.5, 0.5, 0.9])  # the nearest zones gave way first
    top = move_knot(flat, 4, 1.0, 0.5, 2.0)
    assert top == pytest.approx([1, 1, 2, 2, 0.5, 0.5, 0.5, 0.5]) and curve_knots(top)[4, 1] == pytest.approx(0.75)


def test_saturation_keeps_greys_grey_and_raises_saturation(patch: np.ndarray) -> None:
    greys = np.linspace(0, 1, 11)[None, :, None].repeat(3, axis=2)
    np.testing.assert_allclose(apply("saturation", greys, amount=1.0), greys, atol=1e-9)

    def hsv_s(x):
        v = x.max(-1)
        return (v - x.min(-1)) / np.maximum(v, 1e-9)

    out = apply("saturation", patch, amount=1.0)
    s_in, s_out = hsv_s(np.clip(patch, 0, 1)), hsv_s(out)
    v = np.clip(patch, 0, 1).max(-1)
    expected = s_in + (1 - s_in) * (0.5 - np.abs(0.5 - v)) * 0.8  # the paper's s'
    colored = s_in > 1e-3
    paper = s_in >= 0.25  # below, the boost fades in (continuity at grey, see saturation.RAMP)
    assert paper.mean() > 0.3
    np.testing.assert_allclose(s_out[paper], expected[paper], rtol=1e-6, atol=1e-6)
    ramp = colored & ~paper
    np.testing.assert_allclose(s_out[ramp], s_in[ramp] + (expected - s_in)[ramp] * s_in[ramp] / 0.25,
                               rtol=1e-6, atol=1e-6)
    assert (s_out[colored] >= s_in[colored] - 1e-12).all()
    mid = colored & (v > 0.01) & (v < 0.99) & (s_in < 0.99)  # the boost vanishes at v = 0, v = 1, s = 1
    assert mid.mean() > 0.5 and (s_out[mid] > s_in[mid]).all()
    np.testing.assert_allclose(out.max(-1), v, rtol=1e-9)  # value (HSV V) is kept
    half = apply("saturation", patch, amount=0.5)
    np.testing.assert_allclose(half, 0.5 * np.clip(patch, 0, 1) + 0.5 * out, atol=1e-12)


def test_saturation_is_continuous_in_its_amount_beyond_white() -> None:
    """v1 clipped highlights above 1 at any amount above 0 and passed them at 0: a jump under the
    slider that a later darkening step showed. v2 keeps the excess; within [0, 1] it is v1."""
    from engine.recipe import Recipe

    sat = REGISTRY["saturation"]
    hot = np.array([[[1.6, 1.2, 0.5], [2.0, 2.0, 2.0], [0.6, 0.3, 0.1]]], np.float32)
    at0, tiny = sat.apply(hot, amount=0.0), sat.apply(hot, amount=1e-4)
    np.testing.assert_allclose(tiny, at0, atol=1e-3)
    assert tiny[0, 1].min() == pytest.approx(2.0)  # a grey highlight stays a grey highlight, unclipped
    from engine.recipe import FORMAT

    v1 = {"format": FORMAT, "app": "retouch", "steps": [{"op": "saturation", "version": 1, "params": {"amount": 0.4}}]}
    step = Recipe.from_json(v1).steps[0]
    assert step.params["amount"] == 0.4 and step.to_json()["version"] == 2  # an old sidecar reads as v2


def test_saturation_is_continuous_at_grey() -> None:
    """Noise on a neutral grey must not explode into colour (the paper's boost jumps there)."""
    grey = np.full((1, 1, 3), 0.5)
    noisy = grey + np.array([0.0, -0.005, -0.005])
    out = apply("saturation", noisy, amount=1.0)
    chroma_in, chroma_out = np.ptp(noisy), np.ptp(out)
    assert chroma_in < chroma_out <= 2.7 * chroma_in


def test_tone_curve_maps_knots() -> None:
    slopes = np.array([0.5, 2.0, 1.0, 1.5, 0.7, 1.2, 0.9, 1.1])
    knots = np.arange(9) / 8
    out = apply("tone", np.repeat(knots[None, :, None], 3, axis=2), slopes=slopes.tolist())
    expected = np.concatenate([[0], np.cumsum(slopes)]) / slopes.sum()
    np.testing.assert_allclose(out[0, :, 0], expected, atol=1e-12)
    np.testing.assert_allclose(out[..., 0], out[..., 2])
    # inputs above 1 saturate at 1
    assert apply("tone", np.full((1, 1, 3), 1.7), slopes=slopes.tolist()).max() == pytest.approx(1.0)


def test_contrast_curve_at_mid_grey_and_quarter() -> None:
    mid = np.full((1, 1, 3), 0.5)
    np.testing.assert_allclose(apply("contrast", mid, amount=1.0), mid, atol=1e-5)  # fixed point of the S-curve
    q = np.full((1, 1, 3), 0.25)
    curved = (1 - math.cos(math.pi * 0.25)) / 2
    np.testing.assert_allclose(apply("contrast", q, amount=1.0), curved, rtol=1e-5)
    np.testing.assert_allclose(apply("contrast", q, amount=-1.0), 2 * 0.25 - curved, rtol=1e-5)


def test_black_white_gives_equal_channels(patch: np.ndarray) -> None:
    out = apply("black_white", patch, amount=1.0)
    np.testing.assert_allclose(out[..., 0], out[..., 1])
    np.testing.assert_allclose(out[..., 0], out[..., 2])
    np.testing.assert_allclose(out[..., 0], patch @ np.array(LUMA), rtol=1e-12)


def test_color_curves_act_per_channel() -> None:
    slopes = np.ones((3, 8))
    slopes[0, :4] = 1.1  # red: steeper in the shadows -> lifted midtones
    x = np.full((1, 1, 3), 0.5)
    out = apply("color_curves", x, slopes=slopes.tolist())[0, 0]
    assert out[0] == pytest.approx(4 * 1.1 / 8.4)
    np.testing.assert_allclose(out[1:], 0.5)


def test_contrast_leaves_values_above_white_alone() -> None:
    """Its S-curve is on luminance clipped to white: a pixel pushed past white by an earlier step
    (exposure) keeps its values, for the final clip to handle; bent by the curve, (1.3, 1.3, 1.3)
    came out at 1.05 and a bright red lost its order against white."""
    bright = np.array([[[1.3, 1.3, 1.3], [2.0, 1.5, 1.2]]], np.float32)
    for amount in (0.5, -0.5, 1.0):
        out = np.asarray(REGISTRY["contrast"].apply(bright, amount=amount))
        np.testing.assert_allclose(out, bright, rtol=1e-5)


def test_highlight_roll_off_keeps_hue_where_clipping_shifts_it(photo_linear) -> None:
    """The real photo two stops over: clipping each channel turns its sky and sand's hues (cyan,
    yellow); the roll-off keeps every pixel's hue, and leaves whatever is below its knee alone."""
    import colorsys

    from engine.color import srgb_encode
    from engine.filters.highlights import KNEE

    spec = REGISTRY["highlights"]
    over = photo_linear * np.float32(4.0)
    rolled = np.asarray(spec.apply(over, amount=1.0))
    assert rolled.max() <= 1.0  # nothing left for the display to clip

    def hues(lin: np.ndarray, mask: np.ndarray) -> np.ndarray:
        rgb = srgb_encode(np.clip(lin, 0, 1))[mask]
        return np.array([colorsys.rgb_to_hsv(*p)[0] for p in rgb[::7]])

    def shift(a: np.ndarray, b: np.ndarray) -> float:
        d = np.abs(a - b)
        return float(np.median(np.minimum(d, 1 - d)) * 360)

    m = over.max(-1)
    # coloured pixels past white that the roll-off does not fade to white (luminance under white)
    lum = over @ np.array(LUMA, np.float32)
    chroma = (over.max(-1) - over.min(-1)) / np.maximum(over.max(-1), 1e-6)
    mask = (m > 1.2) & (lum < 0.9) & (chroma > 0.3)
    assert mask.mean() > 0.02
    truth = hues(over / m[..., None], mask)  # the hue of the light itself, before any clip
    assert shift(hues(over, mask), truth) > 5  # clipped: hues move (9.5° median here)
    assert shift(hues(rolled, mask), truth) < 1
    # below the knee, untouched
    calm = photo_linear.max(-1) < KNEE
    np.testing.assert_allclose(np.asarray(spec.apply(photo_linear, amount=1.0))[calm], photo_linear[calm], atol=1e-6)
