"""Build `Assets` from the user's folders (`--textures`, `--silhouettes`, `--backgrounds`).

Each folder given replaces one built-in source; the others stay built-in. Nothing is downloaded.
A `--textures` folder serves both objects and still backgrounds (as the paper's PASS pool did);
without it the built-in object and background pools stay apart.
`Assets.describe()` then records, for each source, its kind, folder, item count and the
fingerprint of the files it was built from, so a dataset card can say which assets made the data.

Background videos go to `Assets.videos`: a share `SceneConfig.video_background_prob` of scenes
then plays a window of a clip as its moving background.
"""

from __future__ import annotations

import os

from layersynth.assets.background_video import BackgroundVideos
from layersynth.assets.silhouette_bank import SilhouetteBank
from layersynth.assets.sources import Assets
from layersynth.assets.texture_folder import TextureFolder
from layersynth.errors import UsageError


def load_assets(textures: str | os.PathLike | None = None,
                silhouettes: str | os.PathLike | None = None,
                backgrounds: str | os.PathLike | None = None, *,
                cache_dir: str | os.PathLike | None = None) -> Assets:
    """Assets from the given folders (None = built-in). UsageError names a folder it cannot use.

    textures: a folder of images (PASS or any), indexed once and cached.
    silhouettes: a YouTube-VOS train root (Annotations/<video>/<frame>.png), bank cached.
    backgrounds: a folder of video files and/or frame folders.
    cache_dir: where indexes and banks go when a folder is not writable (default: the user cache).
    """
    builtin = Assets.builtin()
    parts = {"textures": builtin.textures, "silhouettes": builtin.silhouettes,
             "backgrounds": builtin.backgrounds}
    if textures:
        parts["textures"] = _open("--textures", textures, _texture_folder, cache_dir)
        parts["backgrounds"] = None
    if silhouettes:
        parts["silhouettes"] = _open("--silhouettes", silhouettes, _silhouette_bank, cache_dir)
    if backgrounds:
        parts["videos"] = _open("--backgrounds", backgrounds, _videos, cache_dir)
    return Assets(**parts)


def _open(option: str, folder, build, cache_dir):
    try:
        return build(folder, cache_dir)
    except (OSError, ValueError) as err:
        raise UsageError(f"{option} {folder}: {err}") from err


def _texture_folder(folder, cache_dir):
    return TextureFolder(folder, cache_dir=cache_dir)


def _silhouette_bank(folder, cache_dir):
    return SilhouetteBank(folder, cache_dir=cache_dir)


def _videos(folder, cache_dir):
    return BackgroundVideos(folder, cache_dir=cache_dir)
