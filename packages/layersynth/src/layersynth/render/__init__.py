"""Stage 3, render: a SceneParams record -> a Sequence (RGB, masks, exact flow), purely.

- `renderer`: `render(params, assets)` and `render_masks`: planning of every layer, then the frames.
- `exact_flow`: the forward-map method behind the ground-truth flow (DESIGN.md).
- `occluders`: static occluders: background-fixed polygons drawn over every object.
- `composition`: front-to-back composition of layers into modal labels, and the hidden share.
- `kernels`: the numba per-frame kernels the three modules above point to.
- `sprites`, `textures`: sprite shapes in canonical coordinates; texture mapping and colour.
- `mipmap`: seamless, softened, mip-mapped still textures, built once per texture image.
- `sequence`: the Sequence record that rendering returns and shards store.
"""
