"""The flow options `oclr-infer` and `oclr-eval`'s benchmark mode share: how flow is made and
cached for real video, read into an `oclr.realvideo.FlowSettings`."""

from __future__ import annotations

import click

FLOW_OPTIONS = (  # (names, click.Option settings); --device also runs the model
    (("--flow",), {"type": click.Choice(("dis", "raft")), "default": "dis",
                   "metavar": "{dis,raft}",
                   "help": "flow estimator (default dis; raft needs --raft-weights or cached "
                           "weights)"}),
    (("--raft-weights",), {"metavar": "PATH", "help": "local RAFT checkpoint"}),
    (("--device",), {"default": "cpu", "metavar": "DEVICE",
                     "help": "cpu, cuda or cuda:N (model and RAFT)"}),
    (("--flow-width",), {"type": int, "metavar": "W",
                         "help": "estimate flow on frames shrunk to W px wide (default: full "
                                 "resolution; e.g. 448 makes DIS several times faster on 854-px "
                                 "video)"}),
    (("--flow-cache",), {"metavar": "DIR",
                         "help": "where estimated flow is kept (default $OCLR_FLOW_CACHE or "
                                 "~/.cache/oclr/flow)"}),
    (("--no-flow-cache",), {"is_flag": True, "help": "estimate flow, store nothing"}),
)


def flow_options() -> list[click.Option]:
    """Fresh click options for a command's parameter list."""
    return [click.Option(list(names), **settings) for names, settings in FLOW_OPTIONS]


def flow_settings(options: dict):
    """The FlowSettings of the parsed options (`--device` is left to the caller)."""
    # oclr.realvideo imports torch: only once a command runs, never for --help
    from oclr.realvideo import FlowSettings

    return FlowSettings(method=options["flow"], raft_weights=options["raft_weights"],
                        flow_width=options["flow_width"], cache=options["flow_cache"],
                        use_cache=not options["no_flow_cache"])
