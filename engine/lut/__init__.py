"""The fast replay path: a recipe baked into 1-D and 3-D lookup tables, applied by numba.

Every filter is pointwise, so ``render(recipe, x)`` is a fixed function of each pixel's RGB.
:func:`bake_lut` evaluates the *declared* filter math once on small lattices (no formula is
written twice) and :func:`apply_lut` interpolates them over the photo in one vectorised pass.

The recipe's enabled, non-identity steps are split in three, the layout of an ACES/OCIO
"shaper + cube + post" transform:

* **pre** (1-D, per channel): the leading run of per-channel steps (exposure, gamma, white
  balance, tone, colour curves), sampled at 1024 nodes per octave from 2**-20 to IN_MAX
  (:func:`pre_nodes`), so the samples crowd the shadows where the sRGB curve is steepest.
* **cube** (3-D, ``size``³, tetrahedral): the middle, from the first step that mixes channels
  (saturation, contrast, black & white) to the last; its input and output are encoded with the
  :data:`MID_MAX` shaper (:func:`shape_mid`), which puts linear 1.0 exactly on a lattice plane (the clip of
  saturation and contrast) and spaces the nodes like sRGB.
* **post** (1-D, per channel): the trailing per-channel steps and the sRGB output encoding
  (left out when nothing follows the cube: the cube then stores display sRGB itself).

A recipe of per-channel steps only is a single 1-D table: exact to ~1e-4 and the fastest case.
Which steps are per-channel is probed numerically from the math itself (:func:`is_channelwise`).

Each middle is checked once, when baked, against the exact math on fixed probe colours, with the
steps after it run exactly, in display levels (:func:`_bake_middle`). Where one cube is more than
:data:`CHAIN_ABOVE` levels off, other layouts are tried and the most accurate kept: a **chain** (a
cube per run of mixing steps, the per-channel steps between them in 1-D tables: a steep gamma between
saturation and contrast was 48 levels off), and a **wider range** between the stages with a denser
cube (where the steps before the cube lift white past :data:`MID_MAX`).

Range: the fast path reads linear input in [0, :data:`IN_MAX`] = [0, 4] (two stops above
white); between the pre and cube stages values are held to about [0, :data:`MID_MAX`] = [0, 2]
(1.91 for a 33³ cube, so that 1.0 sits on a node), or up to 16 where the steps before the cube lift
white further and a later step would pull it back down (see above). Anything above is clamped
there, while ``render(..., exact=True)`` keeps it.

Accuracy (8-bit sRGB levels against the exact math, real photos): per-channel recipes < 0.05
(pixels blown white in the file under a white balance: within 1.5, see below); with saturation /
contrast / black & white in the cube ~1-3 at 33³, ~0.5-1.5 at 65³ (worst where a clip, e.g. tone's
at 1, falls between lattice planes); over random 5-step recipes of mid-range values on real photos,
at most 6 levels at 1024 px with 33³ (28 before chains and wide ranges, 77 for one white pushed to
6.9, 140 for +3.5 EV, contrast, -3.5 EV). Every filter is continuous (the saturation filter fades its
boost in near grey instead of the paper's jump there), so plain interpolation suffices, with one
exception: a white balance leaves pixels blown white in the file alone over a fade narrower than a
cell (:func:`engine.filters.white_balance.blown`), so those pixels, all in a small corner of the
input, are rendered again from a fine table of that corner (:func:`apply_recipe_lut`).

Speed (``bench/preview.py``): each row goes through the stages one branch-free loop at a
time, which LLVM vectorises (table lookups become AVX2/AVX-512 gathers); the pre table is
indexed by the input float's own bits (no sqrt or log per pixel) and the cube is read as one
uint64 of three 16-bit values per node (4 loads per pixel, not 12). Rows are shared between the
calling thread and one helper per extra core without a fork-join barrier (:class:`_Rows`). The
cube of the mixing steps and the pre table are cached, so moving a slider of a per-channel step
re-bakes only a 1-D table; for a read-only image the cube's per-pixel output is kept too, so a
slider of a step after the last mixing step re-runs only the post stage (the tail cache, in
:func:`apply_lut`). For the app, :func:`apply_lut` writes Qt's RGB32 words and the histogram.
Measured at 2 MP on one core of the AMD EPYC here: ~12 ms for pre + 33³ cube, ~4 ms more with
a post table, ~7 ms post-only from the tail cache, ~6 ms for a 1-D recipe (the former
single-loop scalar kernel: ~35 ms for pre + cube).
"""

from __future__ import annotations

from .apply import apply_lut, count_histogram
from .bake import CHAIN_ABOVE, MAX_LINKS, WIDEST, bake_lut
from .blown import CORNER, DRAFT_CORNER
from .channelwise import is_channelwise
from .cube_file import cube_table, read_cube, write_cube
from .kernels import HIST_STEP, MODES
from .kernels import _apply as _apply  # read by tests; patch a kernel in the module that calls it (.apply)
from .kernels import _apply_chain as _apply_chain
from .kernels import _apply_tail as _apply_tail
from .kernels import _histogram as _histogram
from .recipe_lut import apply_recipe_lut, clear_cache, size_for, warm_up, warm_up_stages
from .tables import (
    DEFAULT_SIZE,
    IN_MAX,
    LARGE_IMAGE,
    LARGE_SIZE,
    MID_MAX,
    POST_SIZE,
    PRE_LO_EXP,
    PRE_SIZE,
    Lut3D,
    pack_cube,
    pre_nodes,
    shape_mid,
    unshape_mid,
)

__all__ = [
    "CHAIN_ABOVE",
    "CORNER",
    "DEFAULT_SIZE",
    "DRAFT_CORNER",
    "HIST_STEP",
    "IN_MAX",
    "LARGE_IMAGE",
    "LARGE_SIZE",
    "MAX_LINKS",
    "MID_MAX",
    "MODES",
    "POST_SIZE",
    "PRE_LO_EXP",
    "PRE_SIZE",
    "WIDEST",
    "Lut3D",
    "apply_lut",
    "apply_recipe_lut",
    "bake_lut",
    "clear_cache",
    "count_histogram",
    "cube_table",
    "is_channelwise",
    "pack_cube",
    "pre_nodes",
    "read_cube",
    "shape_mid",
    "size_for",
    "unshape_mid",
    "warm_up",
    "warm_up_stages",
    "write_cube",
]
