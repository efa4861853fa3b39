"""Tests of oclr.reference_weights and the format detection in oclr.checkpoint: a checkpoint in
the reference code's format, fabricated from its published key list, loads into a network whose
outputs equal those of the same weights in our own format; the layer mapping agrees with torch's
own packed-attention layers; a file that fits neither format is one line naming the misfit."""

import oclr
import pytest
import torch
from oclr.checkpoint import CheckpointError, read_checkpoint, read_weights, save_checkpoint
from oclr.model import build_model
from oclr.reference_weights import (
    expected_shapes,
    from_reference,
    reference_config,
    reference_names,
    to_reference,
)
from refckpt import fabricated_state, reference_keys, write_reference_checkpoint


@pytest.fixture(scope="module")
def reference_file(tmp_path_factory):
    """A full-size (20.66 M parameter) reference checkpoint of fabricated weights."""
    path = tmp_path_factory.mktemp("ref") / "oclr_reference.pth"
    return write_reference_checkpoint(path, fabricated_state(seed=3)), fabricated_state(seed=3)


def test_the_published_key_list_is_exactly_the_names_and_shapes_our_network_maps_to():
    cfg = oclr.build_model("oclr", norm="reference", map_scale=1.0).cfg
    assert expected_shapes(cfg) == dict(reference_keys())
    assert len(reference_keys()) == 129
    total = sum(torch.Size(shape).numel() for _, shape in reference_keys())
    assert total == 20_660_932


def test_a_reference_checkpoint_is_detected_and_loads_with_the_reference_settings(reference_file):
    path, _ = reference_file
    config, weights, kind = read_weights(path)
    assert kind == "reference"
    assert (config.norm, config.map_scale, config.frames, config.num_objects) == (
        "reference", 1.0, 30, 3)
    assert (config.height, config.width, config.cnn_channels) == (128, 224, (32, 64, 128, 256, 512))
    model = oclr.load_model(path)
    assert not model.training and len(weights) == len(model.state_dict())


def test_reference_and_own_format_of_the_same_weights_give_equal_outputs(reference_file, tmp_path):
    path, state = reference_file
    ref_model = oclr.load_model(path)
    own = save_checkpoint({"model": ref_model.state_dict(),
                           "model_config": ref_model.cfg.to_dict()}, tmp_path / "own.pt")
    assert read_weights(own)[2] == "oclr"
    own_model = oclr.load_model(own)
    flow = torch.randn(1, 3, 4, 32, 48, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        (a, oa), (b, ob) = ref_model(flow), own_model(flow)
    assert torch.equal(a, b) and torch.equal(oa, ob)
    assert a.shape == (1, 3, 3, 32, 48) and oa.shape == (1, 3)
    assert a.std() > 1e-3 and oa.std() > 1e-4  # fabricated weights give non-trivial outputs
    # each reference tensor went where its name says: the order head's last bias, the 1x1 conv
    assert torch.equal(ref_model.order_head[2].bias, state["classhead.mlp.2.bias"])
    assert torch.equal(ref_model.decoder_cnn.head.weight, state["decoder_am.conv.weight"])


def test_our_weights_exported_under_reference_names_come_back_unchanged():
    torch.manual_seed(1)
    model = build_model("tiny", norm="reference", map_scale=1.0)
    config, weights = from_reference(to_reference(model))
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
    assert (config.d_model, config.heads, config.ffn_dim, config.encoder_layers,
            config.decoder_layers, config.cnn_channels) == (128, 4, 256, 2, 2, (16, 32, 64, 128))


def _sub_state(state: dict, prefix: str) -> dict:
    return {name[len(prefix):]: t for name, t in state.items() if name.startswith(prefix)}


def test_packed_qkv_and_post_norm_layers_match_torchs_own_transformer_layers():
    """torch's nn.Transformer*Layer use the names and packing the reference checkpoint has; with
    the reference-named weights they compute what our layers compute with the mapped ones."""
    torch.manual_seed(2)
    model = build_model("tiny", dropout=0.0).eval()  # nn.LayerNorm, as torch's layers use
    ref = to_reference(model)
    d, g, f = model.cfg.d_model, model.cfg.heads, model.cfg.ffn_dim
    enc = torch.nn.TransformerEncoderLayer(d, g, f, dropout=0.0, batch_first=True).eval()
    enc.load_state_dict(_sub_state(ref, "transformer_enc.transformer_encoder.layers.0."))
    dec = torch.nn.TransformerDecoderLayer(d, g, f, dropout=0.0, batch_first=True).eval()
    dec.load_state_dict(_sub_state(ref, "transformer_dec.transformer_decoder.layers.1."))
    x, memory = torch.randn(2, 6, d), torch.randn(2, 10, d)
    with torch.no_grad():
        torch.testing.assert_close(model.encoder[0](x, None), enc(x), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(model.decoder[1](x, memory), dec(x, memory), rtol=1e-5,
                                   atol=1e-5)


def test_every_weight_of_our_network_has_one_reference_name_and_q_k_v_share_one():
    cfg = build_model("oclr").cfg
    names = reference_names(cfg)
    assert set(names) == set(build_model("oclr").state_dict())
    packed = [n for n, (ref, block) in names.items() if block is not None]
    assert len(packed) == 2 * 3 * (3 + 2 * 3)  # weight+bias, q/k/v, 3 encoder + 6 decoder attns
    assert names["encoder.0.self_attn.k.weight"] == (
        "transformer_enc.transformer_encoder.layers.0.self_attn.in_proj_weight", 1)


@pytest.mark.parametrize(("change", "needle"), [
    (lambda s: s.pop("decoder_am.conv.bias"),
     "no tensor decoder_am.conv.bias (expected shape (3,))"),
    (lambda s: s.__setitem__("classhead.mlp.0.weight", torch.zeros(512, 256)),
     "classhead.mlp.0.weight has shape (512, 256), expected (512, 512)"),
    (lambda s: s.__setitem__("extra.weight", torch.zeros(2)), "unexpected tensor extra.weight"),
    (lambda s: s.pop("transformer_dec.motion_embed.weight"),
     "no tensor transformer_dec.motion_embed.weight"),
    (lambda s: s.__setitem__("heatmap.mlp.0.weight", torch.zeros(512, 25)),
     "heatmap.mlp.0.weight has shape (512, 25), expected (512, 24)"),
])
def test_a_reference_checkpoint_that_does_not_fit_names_the_file_and_the_first_misfit(
        tmp_path, change, needle):
    state = fabricated_state(seed=0)
    change(state)
    path = write_reference_checkpoint(tmp_path / "ref.pth", state)
    with pytest.raises(CheckpointError) as caught:
        oclr.load_model(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: the reference code's checkpoint format")
    assert needle in message and "\n" not in message


def test_a_file_of_neither_format_names_what_it_lacks_and_what_it_holds(tmp_path):
    torch.save({"state_dict": {}, "epoch": 3}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match=r"other.pt: not an oclr checkpoint \(no 'model'/"
                                              r"'model_config'\) nor the reference code's \(no "
                                              r"'model_state_dict'\); its keys: state_dict, epoch"):
        oclr.load_model(tmp_path / "other.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="list.pt: .*it holds a list"):
        read_weights(tmp_path / "list.pt")


def test_our_own_weights_that_misfit_name_the_first_tensor_and_its_shape(tmp_path):
    model = build_model("tiny")
    weights = dict(model.state_dict())
    weights["queries"] = torch.zeros(4, 128)
    path = save_checkpoint({"model": weights, "model_config": model.cfg.to_dict()},
                           tmp_path / "w.pt")
    with pytest.raises(CheckpointError, match=r"w.pt: the weights do not fit the network its "
                                              r"model_config describes: queries has shape "
                                              r"\(4, 128\), expected \(3, 128\)"):
        oclr.load_model(path)


def test_a_reference_checkpoint_is_not_a_run_to_resume_and_says_what_reads_it(reference_file):
    path, _ = reference_file
    with pytest.raises(CheckpointError, match="weights only, not an oclr training run; "
                                              "`oclr-train --init` starts a run from it"):
        read_checkpoint(path)


def test_reference_config_reads_the_sizes_from_the_shapes_alone():
    state = to_reference(build_model("oclr", num_objects=4, norm="reference", map_scale=1.0))
    cfg = reference_config(state)
    assert (cfg.num_objects, cfg.heads, cfg.d_model) == (4, 8, 512)
