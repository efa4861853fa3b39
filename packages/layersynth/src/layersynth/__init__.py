"""layersynth: layered synthetic videos with exact optical flow, amodal masks and depth order.

Importing this package stays light: numpy and friends only. torch and ptlflow load only when a
learned flow estimator (RAFT) is asked for.

The subpackages follow the data flow: `scene` (what to draw) -> `motion` (how layers move) ->
`render` (frames, masks, exact flow) -> `estimators` (estimated flow) -> `store` (shards) ->
`pipeline` (generate, validate); `assets` feeds scene and render, `viz` looks at a dataset, `cli`
is the command line; `errors` and `report` serve them all.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("layersynth")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"


def open_dataset(path):
    """Return the reader of a generated folder (see `layersynth.store.reader.Dataset`).

    `.ids` lists sequence ids (strings), `len()` counts them, and `ds[id]` returns a dict of numpy
    arrays named as in docs/shards.md (at least `rgb`, `amodal`, `modal`, `occluder`, `flow_gt`,
    `order`).
    """
    # numpy and the reader load on first use: `import layersynth` and `--help` stay light
    from layersynth.store.reader import open_dataset as _open

    return _open(path)


__all__ = ["__version__", "open_dataset"]
