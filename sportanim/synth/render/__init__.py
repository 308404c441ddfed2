"""Renderer of the synthetic figure-skating world: a skater on an ice rink, seen by a camera.

World frame as :mod:`sportanim.synth.camera`: metres, z up, ice at z = 0, rink centre at the
origin. The rink is a 60 x 30 m rounded rectangle (corner radius 8.5 m) with 1.1 m boards
(advertising panels, kick plate, top rail) and a glass screen with posts above them. Behind
them, after a 2 m floor, rise stepped stands (a barrier, then 56 rows of seated spectators)
under a dark roof with lamps. The ice is bluish white with faint hockey-style markings, a
smooth noise and skate scratches, all anchored in world coordinates; a soft blob shadow lies
under the skater. Every edge of the rink is anti-aliased by the pixel's footprint there.

The skater is a set of shaded primitives, each a (possibly tapered) capsule between two
points: trunk columns, hips, shoulders, limbs, neck, head and hair, skate boots with holder
and blade (a skirt is a flat-ended cone). They are rasterised in screen space: per pixel
the closest point on the projected segment gives the signed distance to the outline
(analytic anti-aliasing), a depth (a z-buffer: the nearest part wins) and a normal for
shading (ambient + sky + one directional light + a fill from the camera + a specular).

Everything is vectorised numpy in float32, working in place in reused scratch arrays
(fresh memory is slow to touch on some machines). Outputs are deterministic: only
elementwise arithmetic and square roots make pixel values.

Modules: ``compose`` (the public functions: whole frames), ``appearance``; the rink:
``layout`` (sizes, colours, wall geometry), ``rays``, ``rink`` (rows of ice vs the rest),
``ice``, ``boards`` (boards and glass), ``stands`` (crowd and roof), ``textures``; the
skater: ``body`` (capsules), ``skater`` (z-buffer), ``shading``, ``shadow``; and the
scratch ``pool`` with in-place ``planar`` helpers.
"""

from sportanim.synth.render.appearance import Appearance
from sportanim.synth.render.compose import AUTO_SUPERSAMPLE, render, render_rink, render_skater, to_uint8

__all__ = ["AUTO_SUPERSAMPLE", "Appearance", "render", "render_rink", "render_skater", "to_uint8"]
