"""Scene configuration: what `sample_scene` may draw. Frozen, validated, with named presets.

Sizes of things that move are fractions of the frame height, and speeds are fractions of the frame
height per frame, so that a scene sampled at 64 x 112 looks like the same scene at 128 x 224.
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

Range = tuple[float, float]


@dataclass(frozen=True)
class SceneConfig:
    """Everything the scene sampler may draw; all defaults are the paper's setting ("oclr").

    Defaults and why:
    - frames=30, height=128, width=224: the paper trains on 30-frame clips at 128 x 224 (flow at
      1/2 of DAVIS 480p keeps the aspect ratio; the released data uses this size).
    - objects=(1, 2, 3): the paper's training and Syn-val sets hold 1, 2, 3 objects in equal parts.
    - occlusion=(0.0, 1.0): no constraint on the hidden fraction of object area; Syn-val splits
      narrow it to get controlled occlusion levels.
    - occluder_prob=0.3: the paper adds occluders "for cases with objects being occluded" without a
      rate; a minority of scenes keeps most object area visible for the modal task.
    - photometric=True: the paper jitters the background colour; the flow test turns it off because
      brightness constancy is what it checks.
    """

    frames: int = 30  # T kept frames; one extra frame is rendered at each end for the flow gaps
    height: int = 128
    width: int = 224
    objects: tuple[int, ...] = (1, 2, 3)  # object counts, drawn in equal proportions
    occlusion: Range = (0.0, 1.0)  # allowed hidden fraction of the total object amodal area
    occlusion_tries: int = 50  # scenes re-sampled at most this often to meet `occlusion`
    occluder_prob: float = 0.3  # probability that a scene has an artificial occluder layer
    photometric: bool = True  # per-frame colour jitter of every layer
    # Share of scenes whose background is a real clip, when Assets.videos is given (the paper mixes
    # both; it gives no share). Ground-truth flow there holds only the camera part (see render).
    video_background_prob: float = 0.5
    polygon_prob: float = 0.5  # share of polygon sprites; the rest are silhouettes
    polygon_sides: tuple[int, int] = (3, 10)  # inclusive, as in the paper
    min_vertex_gap: float = 0.35  # minimum vertex distance, as a fraction of the polygon radius
    object_size: Range = (0.15, 0.32)  # sprite radius / frame height: objects of 40-80 px at 128
    object_speed: Range = (0.002, 0.025)  # centre speed / frame height per frame (0.3-3 px at 128)
    object_rotation: float = 0.03  # max rotation speed, radians per frame (1.7 degrees)
    object_zoom: float = 0.01  # max |d log(scale) / d frame|
    object_shear: float = 0.15  # max |shear| at any frame
    object_perspective: float = 0.15  # max |1 - w| over the sprite (w the projective divisor)
    deform: float = 0.5  # TPS control-point displacement d < deform * D (paper: d < D / 2)
    deform_speed: Range = (0.05, 0.25)  # angular frequency of the deformation, radians per frame
    silhouette_grid: int = 4  # silhouettes: g x g TPS control grid (spacing D)
    camera_speed: float = 0.012  # max background translation speed / frame height per frame
    camera_rotation: float = 0.004  # radians per frame
    camera_zoom: float = 0.004  # max |d log(scale) / d frame|
    camera_perspective: float = 0.05  # max |1 - w| over the frame
    jitter: Range = (0.04, 0.1)  # colour jitter amplitude (fraction of the colour) of (objects, bg)

    def __post_init__(self) -> None:
        _normalise(self)
        _positive(self, "frames", "height", "width", "occlusion_tries", "silhouette_grid")
        if self.silhouette_grid < 2:
            raise ValueError(f"silhouette_grid: at least 2, got {self.silhouette_grid}")
        if self.height < 16 or self.width < 16:
            raise ValueError(f"height, width: at least 16 pixels, got {self.height}x{self.width}")
        if not self.objects or any(k < 1 for k in self.objects):
            raise ValueError(f"objects: a non-empty tuple of counts >= 1, got {self.objects!r}")
        if max(self.objects) > 254:
            raise ValueError("objects: at most 254 objects (modal labels are uint8)")
        lo, hi = _range(self, "occlusion")
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError(f"occlusion: need 0 <= lo <= hi <= 1, got {self.occlusion!r}")
        for name in ("occluder_prob", "polygon_prob", "deform", "video_background_prob"):
            _fraction(self, name)
        if self.deform > 0.5:
            raise ValueError(f"deform: at most 0.5 (the paper's d < D/2), got {self.deform}")
        lo_s, hi_s = self.polygon_sides
        if not 3 <= lo_s <= hi_s:
            raise ValueError(f"polygon_sides: need 3 <= lo <= hi, got {self.polygon_sides!r}")
        for name in ("object_size", "object_speed", "deform_speed", "jitter"):
            _range(self, name)
        if self.object_size[1] > 0.45:
            raise ValueError(f"object_size: radius at most 0.45 * height, got {self.object_size}")
        for name in ("object_perspective", "camera_perspective"):
            if not 0.0 <= getattr(self, name) < 0.5:
                raise ValueError(f"{name}: must be in [0, 0.5), got {getattr(self, name)}")

    @classmethod
    def preset(cls, name: str, **overrides) -> SceneConfig:
        """The named preset ("oclr", "syn-val", "tiny") with `overrides` applied."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; valid: {', '.join(sorted(PRESETS))}")
        return replace(PRESETS[name], **overrides)

    def to_dict(self) -> dict:
        """JSON-safe dict (tuples become lists); `from_dict` restores it exactly."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> SceneConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"SceneConfig: unknown field(s) {', '.join(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def _normalise(cfg: SceneConfig) -> None:
    """Lists (JSON, CLI) to tuples and numpy scalars to Python numbers, so that configs compare,
    hash and serialise alike however they were built; ValueError names a field of the wrong type."""
    for f in fields(cfg):
        value, default = getattr(cfg, f.name), getattr(SceneConfig, f.name)
        try:
            if isinstance(default, tuple):
                kind = type(default[0])
                value = tuple(_number(kind, v) for v in value)
            else:
                value = _number(type(default), value)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{f.name}: {err}") from None
        object.__setattr__(cfg, f.name, value)


def _number(kind: type, v):
    if kind is bool:
        if not isinstance(v, bool | np.bool_):
            raise TypeError(f"expected true or false, got {v!r}")
        return bool(v)
    if kind is int:
        if isinstance(v, bool | np.bool_) or not isinstance(v, numbers.Integral):
            raise TypeError(f"expected an integer, got {v!r}")
        return int(v)
    if isinstance(v, bool | np.bool_) or not isinstance(v, numbers.Real):
        raise TypeError(f"expected a number, got {v!r}")
    return float(v)


def _positive(cfg: SceneConfig, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name}: a positive integer, got {value!r}")


def _fraction(cfg: SceneConfig, name: str) -> None:
    value = getattr(cfg, name)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}: must be in [0, 1], got {value!r}")


def _range(cfg: SceneConfig, name: str) -> Range:
    value = getattr(cfg, name)
    if len(value) != 2 or not 0.0 <= value[0] <= value[1]:
        raise ValueError(f"{name}: need (lo, hi) with 0 <= lo <= hi, got {value!r}")
    return value


PRESETS: dict[str, SceneConfig] = {
    "oclr": SceneConfig(),
    # Syn-val: the paper generates it "with the same parameters" as the training set; only the
    # seed namespace differs, which the generate command owns.
    "syn-val": SceneConfig(),
    # Small and fast for tests, demos and a CPU learning check; same scene mix as "oclr".
    "tiny": SceneConfig(frames=8, height=64, width=112),
}
