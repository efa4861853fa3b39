"""Looking at a dataset: previews, flow colours and the numbers `inspect` prints.

- `preview`: PNG contact sheets, GIF and MP4 animations of one sequence.
- `flow_colours`: the Middlebury colour-wheel coding of optical flow.
- `stats`: counts, objects, occlusion, sizes, settings and EPE of a dataset.
"""
