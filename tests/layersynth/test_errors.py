"""layersynth.errors: one base for every input error, which every command line reports alike."""

import pytest
from layersynth.cli.conventions import run_main
from layersynth.errors import InputError, UsageError
from layersynth.pipeline.generation import GenerationError
from layersynth.store.schema import ShardError


@pytest.mark.parametrize("kind", [ShardError, GenerationError, UsageError])
def test_every_input_error_of_the_library_derives_from_input_error(kind):
    assert issubclass(kind, InputError)


def test_an_input_error_raised_deep_in_a_command_is_one_line_and_exit_2(capsys):
    def body():
        raise ShardError("shards/shard-00003.h5: sequence 000049: rgb: bad shape (2, 3)")

    assert run_main("layersynth", body) == 2
    assert capsys.readouterr().err == (
        "layersynth: error: shards/shard-00003.h5: sequence 000049: rgb: bad shape (2, 3)\n")
