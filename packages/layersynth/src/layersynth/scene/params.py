"""Scene parameters: the small JSON-serialisable record `sample_scene` draws and `render` reads.

Time: every motion, deformation, joint, jitter and event is a function of continuous time tau in
nominal frames from the clip centre (one nominal frame = one frame at time step 1). The clip has
T kept frames sampled `time_step` S nominal frames apart, plus G = max(gaps) extra frames at each
end for the flow targets: extended frame index e = 0 .. T + 2G - 1 (kept frame t is e = t + G) at

    tau_e = (e - G - (T - 1) / 2) * S          (exact for a dyadic S: 1, 0.5, 0.25, ...)

so the kept frames span the duration D = (T - 1) * S, and the same scene at S / 2 with 2T - 1
frames holds every frame of the S one at its even frames. Phases (deformation, photometric
jitter) run on the clock tau + D / 2 + 1, nominal frames since one nominal frame before the
first kept frame (extended frame 0 at S = 1, as before time steps). Depth: objects[0] is the
front-most layer at the first kept frame; `order_changes` (issue 16) swap two objects' depth
ranks at given trajectory times, and `SceneParams.frame_order` gives the ranks of every kept
frame.
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import asdict, dataclass, fields

import numpy as np

PARAMS_VERSION = 3  # bump when the meaning of a field or the renderer's output changes

Pair = tuple[float, float]
Triple = tuple[float, float, float]


class Record:
    """Base of the scene records: `from_dict` rebuilds a record from its `asdict` form.

    Each field is decoded by its annotation: a nested record (or a tuple of them, or one or None)
    recursively, a `dict` field as it is, anything else with JSON lists back to tuples, so records
    compare and hash by value. Fields absent from `d` take their defaults.
    """

    @classmethod
    def from_dict(cls, d: dict):
        hints = typing.get_type_hints(cls)
        return cls(**{f.name: _decode(hints[f.name], d[f.name]) for f in fields(cls)
                      if f.name in d})


def _record_type(hint) -> type | None:
    """The Record class named by `hint` (itself, or inside `X | None`), else None."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    return next((o for o in options if isinstance(o, type) and issubclass(o, Record)), None)


def _decode(hint, value):
    record = _record_type(hint)
    if value is None:
        return None
    if record is not None:
        return record.from_dict(value)
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple and args and _record_type(args[0]) is not None:
        return tuple(args[0].from_dict(v) for v in value)
    if hint is dict or dict in args:
        return value
    return _tuples(value)


@dataclass(frozen=True)
class Appearance(Record):
    """A texture crop (see layersynth.render.textures) and its colour: gain/bias plus jitter."""

    texture: int  # index into the layer's texture source
    offset: Pair  # texture pixel (u, v) at the canonical origin
    scale: float  # texture pixels per canonical pixel
    flip: tuple[bool, bool]  # mirror the texture along x, y
    gain: Triple  # per-channel multiplier
    bias: Triple  # per-channel offset, intensity levels
    jitter_amp: Triple  # relative gain amplitude (0 = no photometric jitter)
    jitter_freq: float  # radians per nominal frame, on the phase clock (see the module docstring)
    jitter_phase: Triple



@dataclass(frozen=True)
class Motion(Record):
    """A homography trajectory: (8, 3) coefficients and (S, 4) shake rows (component, amplitude,
    freq, phase), see layersynth.motion.homography."""

    coeffs: tuple[Triple, ...]
    shake: tuple[tuple[float, float, float, float], ...] = ()  # none: a smooth trajectory



@dataclass(frozen=True)
class Deformation(Record):
    """TPS control points P_i (canonical) displaced by amplitude_i * sin(freq_i * k + phase_i), k
    the phase clock at the object's own time (nominal frames, see the module docstring)."""

    points: tuple[Pair, ...]
    amplitude: tuple[Pair, ...]  # (0, 0) for points that stay put; |amplitude_i| < D_i / 2
    freq: tuple[float, ...]
    phase: tuple[float, ...]



@dataclass(frozen=True)
class Part(Record):
    """One rigid part of an articulated sprite (layersynth.render.articulated), body coordinates.

    Its joint angle is swing * sin(freq * tau + phase) radians about `hinge`, on top of its
    parent's pose; the root (parent -1) carries the object's deformation instead of a joint.
    """

    vertices: tuple[Pair, ...]  # outline at rest pose, canonical px
    parent: int  # index of the part it hangs from; -1 for the root (the torso)
    hinge: Pair  # joint position at rest pose, canonical px
    swing: float  # joint amplitude, rad
    freq: float  # rad per frame of tau
    phase: float


@dataclass(frozen=True)
class Sprite(Record):
    """A polygon (canonical vertices), a silhouette (index, scaled to span 2 * radius) or an
    articulated body (parts, nearest first, spanning about 2 * radius)."""

    kind: str  # "polygon", "silhouette" or "articulated"
    radius: float
    vertices: tuple[Pair, ...] = ()
    silhouette: int = -1
    parts: tuple[Part, ...] = ()



@dataclass(frozen=True)
class StaticSpell(Record):
    """The object stops relative to the background over tau in [start, end] (trajectory time,
    frames from the clip centre, continuous), easing in and out over `ramp` frames on each side;
    see layersynth.motion.spells."""

    start: float
    end: float
    ramp: float



@dataclass(frozen=True)
class ObjectLayer(Record):
    sprite: Sprite
    appearance: Appearance  # texture index into assets.textures
    motion: Motion
    deformation: Deformation
    # Motion events (issue 13, events part): at most one per object.
    spell: StaticSpell | None = None  # a static spell, or None
    crossing: str = ""  # "enter" / "leave": the path starts / ends outside the frame; "" neither



@dataclass(frozen=True)
class Occluder(Record):
    """Polygons in the canonical coordinates of their own depth plane (`motion`, nearer than the
    objects), or of the far background plane when `motion` is None."""

    polygons: tuple[tuple[Pair, ...], ...]
    appearance: Appearance  # texture index into assets.textures
    motion: Motion | None = None



@dataclass(frozen=True)
class BackgroundPlane(Record):
    """A near background plane (parallax, see layersynth.render.planes): polygons in its own
    canonical coordinates under its own homography trajectory, labelled background (modal 0)."""

    kind: str  # "ground" (below a horizon, canonical y >= 0) or "patch" (a planar facet)
    polygons: tuple[tuple[Pair, ...], ...]
    appearance: Appearance  # texture index into assets.background_source
    motion: Motion
    parallax: float  # its image translation / the far plane's (inverse depth ratio), > 1



@dataclass(frozen=True)
class OrderChange(Record):
    """Objects `a` and `b` (indices into SceneParams.objects), adjacent in depth rank just before,
    swap ranks at trajectory time `tau` (nominal frames from the clip centre): frames at
    tau_e >= tau show the new order. See layersynth.scene.reorder for how it is planned."""

    tau: float
    a: int
    b: int


@dataclass(frozen=True)
class SceneParams(Record):
    """Everything `render` needs; `to_dict`/`from_dict` round-trip exactly through JSON."""

    frames: int  # T kept frames
    height: int
    width: int
    objects: tuple[ObjectLayer, ...]  # front-most first
    background: Appearance  # texture index into assets.background_source
    camera: Motion  # the background's (and occluders') homography; canonical 0 = frame centre
    occluder: Occluder | None = None
    # The clip window (VideoSource.sample(...).to_dict()) replacing the still background, or None.
    background_video: dict | None = None
    planes: tuple[BackgroundPlane, ...] = ()  # near background planes, nearest first
    # The full-occlusion event: object `hidden` is wholly covered by the occluder polygon planned on
    # its path (the last of occluder.polygons) over tau in hidden_window; -1 for none.
    hidden: int = -1
    hidden_window: Pair = (0.0, 0.0)
    time_step: float = 1.0  # S, nominal frames between kept frames (0.5: twice the frame rate)
    gaps: tuple[int, ...] = (1,)  # frame gaps g of the flows: +g1, -g1, +g2, -g2, ... per frame
    # Depth-order changes (issue 16), in time order; none: objects[0] in front throughout. An
    # added field that is empty for every scene made before it, so PARAMS_VERSION stays.
    order_changes: tuple[OrderChange, ...] = ()
    version: int = PARAMS_VERSION

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def margin(self) -> int:
        """G = max(gaps): extended frames at each end of the clip (kept frame t is e = t + G)."""
        return max(self.gaps)

    @property
    def extended(self) -> int:
        """E = T + 2G, the number of extended frames."""
        return self.frames + 2 * self.margin

    @property
    def duration(self) -> float:
        """D = (T - 1) * S, nominal frames from the first kept frame to the last."""
        return (self.frames - 1) * self.time_step

    @property
    def taus(self) -> np.ndarray:
        """(E,) trajectory times of the extended frames, nominal frames from the clip centre."""
        return (np.arange(self.extended) - self.margin - (self.frames - 1) / 2.0) * self.time_step

    def frame_order(self) -> np.ndarray:
        """(T, K) int16 depth ranks of the objects at each kept frame (0 = front-most): arange(K)
        at every frame but where `order_changes` swapped two objects, from their tau on. A
        function of trajectory time only, so the same scene at S / 2 has the same order at the
        frames the two share."""
        k = len(self.objects)
        kept = self.taus[self.margin:self.margin + self.frames]
        order = np.tile(np.arange(k, dtype=np.int16), (self.frames, 1))
        for change in self.order_changes:
            after = kept >= change.tau
            order[after, change.a], order[after, change.b] = (order[after, change.b],
                                                              order[after, change.a])
        return order

    def clock(self, taus) -> np.ndarray:
        """(N,) phase-clock times (deformation, jitter) at trajectory times taus (N,)."""
        return np.asarray(taus, dtype=np.float64) + (self.duration / 2.0 + 1.0)


def gap_offsets(gaps: tuple[int, ...]) -> np.ndarray:
    """(2 len(gaps),) int64 extended-frame offsets of the flow targets, in flow_gt's order:
    +g1, -g1, +g2, -g2, ..."""
    return np.array([s * g for g in gaps for s in (1, -1)], dtype=np.int64)


def video_frames(duration: float) -> int:
    """Frames of a background video window for a clip of `duration` D nominal frames: one per
    nominal frame, at phase-clock times 0 .. floor(D) + 2 (the kept frames lie in [1, D + 1])."""
    return int(math.floor(duration)) + 3


def _tuples(x):
    """Lists (from JSON) back to tuples, recursively, so records compare and hash by value."""
    if isinstance(x, dict):
        return {k: _tuples(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return tuple(_tuples(v) for v in x)
    return x
