"""How one skater looks: colours and build."""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Appearance:
    """Colours (RGB in [0, 1]) and build of one skater."""

    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    top: tuple[float, float, float]  # costume torso (+ arms when sleeves)
    bottom: tuple[float, float, float]  # legs (tights/trousers)
    boots: tuple[float, float, float]  # skate boots
    sleeves: bool = True  # costume covers the arms, else skin
    build: float = 1.0  # radius scale (0.85 slim .. 1.15 broad)
    skirt: bool = False  # a short skirt flaring from the hips, in the top's colour

    @staticmethod
    def sample(rng: np.random.Generator) -> "Appearance":
        """A varied, plausible skater (always the same number of draws from ``rng``)."""
        u = rng.uniform(size=16)
        skins = ((0.96, 0.80, 0.69), (0.92, 0.72, 0.58), (0.86, 0.65, 0.50),
                 (0.74, 0.53, 0.39), (0.56, 0.38, 0.26), (0.40, 0.27, 0.18))
        skin = _jitter(skins[int(u[0] * len(skins))], u[1], 0.04)
        hairs = ((0.07, 0.05, 0.04), (0.07, 0.05, 0.04), (0.22, 0.14, 0.08), (0.38, 0.24, 0.13),
                 (0.78, 0.63, 0.38), (0.52, 0.23, 0.10), (0.58, 0.56, 0.54))
        hair = _jitter(hairs[int(u[2] * len(hairs))], u[3], 0.03)
        if u[4] < 0.12:
            top = _jitter((0.07, 0.07, 0.08), u[5], 0.03)
        elif u[4] < 0.2:
            top = _jitter((0.92, 0.92, 0.94), u[5], 0.03)
        else:
            top = colorsys.hsv_to_rgb(float(u[5]), 0.35 + 0.6 * float(u[6]), 0.3 + 0.65 * float(u[7]))
        if u[8] < 0.35:
            bottom = _jitter((0.06, 0.06, 0.08), u[9], 0.03)
        elif u[8] < 0.55:
            bottom = top
        elif u[8] < 0.8:
            bottom = _jitter((0.85, 0.70, 0.58), u[9], 0.06)  # skin-coloured tights
        else:
            bottom = colorsys.hsv_to_rgb(float(u[9]), 0.5, 0.2 + 0.3 * float(u[6]))
        # Boots: white (half), black, or beige.
        boots = (0.93, 0.93, 0.92) if u[10] < 0.5 else (0.06, 0.06, 0.07) if u[10] < 0.85 else (0.82, 0.72, 0.58)
        return Appearance(
            skin=skin, hair=hair, top=_rgb(top), bottom=_rgb(bottom), boots=_jitter(boots, u[14], 0.02),
            sleeves=bool(u[11] < 0.75), build=float(0.85 + 0.3 * u[12]), skirt=bool(u[13] < 0.3))


def _rgb(c) -> tuple[float, float, float]:
    return tuple(float(min(max(x, 0.0), 1.0)) for x in c)  # type: ignore[return-value]


def _jitter(c, u: float, amount: float) -> tuple[float, float, float]:
    return _rgb(x + amount * (2.0 * float(u) - 1.0) for x in c)
