"""Saturation+ (Exposure paper filter 3, ``SaturationPlusFilter``), written without branches."""

from __future__ import annotations

from typing import Any

from array_api_compat import array_namespace

from .base import FilterSpec, Param, Sigmoid, lerp, per_image, register

_EPS = 1e-6
#: Below this HSV saturation the paper's boost fades in linearly (see :func:`saturation`).
RAMP = 0.25


def saturation(img: Any, *, amount: Any) -> Any:
    r"""Raise HSV saturation most in the midtones: ``s' = s + (1 - s)(0.5 - |0.5 - v|) 0.8``.

    The paper converts to HSV and back. Keeping hue and value while changing saturation has a
    closed form, ``x' = v - (s'/s)(v - x)`` per channel, which is the same result with no
    hue sextant branches, so it exports to ONNX and differentiates everywhere. Greys (s = 0)
    stay grey here, where the HSV round trip of the original tints them red (hue 0).

    One deliberate change to the paper: for ``s < 0.25`` the boost is scaled by ``s / 0.25``.
    The paper's boost does not vanish as ``s -> 0``, so it is discontinuous at grey: sensor
    noise on a neutral wall (s ~ 0.01) would come out at s ~ 0.4 in random hues, and no LUT can
    follow a jump. With the ramp the chroma gain near grey is bounded (at most 2.6x) and the
    filter is continuous; above s = 0.25 it is exactly the paper's.

    Version 2: what lies beyond [0, 1] passes through. The boost is computed on the clipped image,
    as in the paper, and each pixel's excess over the clip is added back, so an amount of 0 and of
    0.001 give the same highlights (v1 clipped them at any amount above 0, and passed them at 0: a
    jump under the slider, seen by a later step that darkens). Within [0, 1] it is v1 exactly.

    Args:
        img: linear RGB :math:`(*, H, W, 3)`.
        amount: blend weight in [0, 1], float or :math:`(*)`; 0 leaves the image unchanged.
    """
    xp = array_namespace(img)
    i = xp.clip(img, 0.0, 1.0)
    r, g, b = i[..., 0:1], i[..., 1:2], i[..., 2:3]
    # pairwise, not xp.max(axis=-1): numpy reduces a length-3 last axis ~25x slower, and this
    # filter runs on every node of the replay cube each time its slider moves
    v = xp.maximum(xp.maximum(r, g), b)
    s = (v - xp.minimum(xp.minimum(r, g), b)) / (v + _EPS)
    boost = (1.0 - s) * (0.5 - xp.abs(0.5 - v)) * 0.8
    s_new = s + boost * xp.clip(s / RAMP, 0.0, 1.0)
    full = v - (s_new / xp.clip(s, _EPS, None)) * (v - i)
    p = per_image(xp, img, amount)
    return lerp(i, full, p) + (img - i)


SPEC = register(
    FilterSpec(
        id="saturation",
        label="Saturation",
        short="S+",
        version=2,
        description="Makes colours more vivid, mostly in the midtones; greys stay neutral.",
        params=(
            Param("amount", "Amount", "", 0.0, 1.0, 0.0, "Strength of the saturation boost",
                  Sigmoid(0.0, 1.0)),
        ),
        math=saturation,
    )
)


@SPEC.migration(1)
def _keep_amount(params: dict) -> dict:
    """v1 -> v2: the same amount; only pixels beyond [0, 1] render differently (they keep their
    excess instead of being clipped), which the display clips anyway unless a later step darkens."""
    return params
