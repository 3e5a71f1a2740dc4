"""Feature networks: FID Inception-v3 layout and loading, gankit's own trained nets, image evaluation.

The real Inception weights are not available offline, so the Inception
network is checked by (a) its state-dict keys and shapes against a table
written independently from the reference architecture (torchvision
Inception3 with aux_logits=False, num_classes=1008, and pytorch-fid's block
patches), (b) its parameter count against torchvision's published figure,
(c) a save / load_inception round trip of random weights, (d) refusal of
damaged files, and (e) the input scaling and TF-style pooling it applies.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from gankit.errors import ConfigError, DataError
from gankit.metrics.features import FeatureNet, train_feature_net
from gankit.metrics.image_eval import evaluate_images
from gankit.metrics.inception import FIDInceptionV3, _tf_avg_pool, inception_features, load_inception


# ------------------------------------------------------------------ synthetic data
def blob_images(n: int, *, size: int = 28, channels: int = 1, num_classes: int = 4,
                seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Class-dependent images: a bright Gaussian blob at a class-specific angle, plus pixel noise.

    Returns uint8 (n, channels, size, size) and int64 (n,) labels.
    """
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, num_classes, (n,), generator=g)
    angle = 2 * torch.pi * labels.float() / num_classes
    cx = size / 2 + size / 4 * torch.cos(angle) + torch.randn(n, generator=g)
    cy = size / 2 + size / 4 * torch.sin(angle) + torch.randn(n, generator=g)
    r = torch.arange(size).float()
    d2 = (r.view(1, 1, size) - cx.view(n, 1, 1)) ** 2 + (r.view(1, size, 1) - cy.view(n, 1, 1)) ** 2
    img = 255 * torch.exp(-d2 / (2 * (size / 11) ** 2)) + 20 * torch.randn(n, size, size, generator=g)
    img = img.clamp(0, 255).round().to(torch.uint8).unsqueeze(1)
    return img.expand(-1, channels, -1, -1).contiguous(), labels


# ------------------------------------------------------------ Inception: key table
def _conv_bn(prefix: str, c_in: int, c_out: int, kh: int, kw: int | None = None) -> dict[str, tuple]:
    kw = kh if kw is None else kw
    entries = {f"{prefix}.conv.weight": (c_out, c_in, kh, kw)}
    for name in ("weight", "bias", "running_mean", "running_var"):
        entries[f"{prefix}.bn.{name}"] = (c_out,)
    return entries


def _reference_layout() -> dict[str, tuple]:
    """Keys and shapes of pt_inception-2015-12-05-6726825d.pth, from the reference architecture."""
    spec: list[tuple] = [
        ("Conv2d_1a_3x3", 3, 32, 3), ("Conv2d_2a_3x3", 32, 32, 3), ("Conv2d_2b_3x3", 32, 64, 3),
        ("Conv2d_3b_1x1", 64, 80, 1), ("Conv2d_4a_3x3", 80, 192, 3),
    ]
    for block, c_in, pool in (("Mixed_5b", 192, 32), ("Mixed_5c", 256, 64), ("Mixed_5d", 288, 64)):
        spec += [(f"{block}.branch1x1", c_in, 64, 1), (f"{block}.branch5x5_1", c_in, 48, 1),
                 (f"{block}.branch5x5_2", 48, 64, 5), (f"{block}.branch3x3dbl_1", c_in, 64, 1),
                 (f"{block}.branch3x3dbl_2", 64, 96, 3), (f"{block}.branch3x3dbl_3", 96, 96, 3),
                 (f"{block}.branch_pool", c_in, pool, 1)]
    spec += [("Mixed_6a.branch3x3", 288, 384, 3), ("Mixed_6a.branch3x3dbl_1", 288, 64, 1),
             ("Mixed_6a.branch3x3dbl_2", 64, 96, 3), ("Mixed_6a.branch3x3dbl_3", 96, 96, 3)]
    for block, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
        spec += [(f"{block}.branch1x1", 768, 192, 1), (f"{block}.branch7x7_1", 768, c7, 1),
                 (f"{block}.branch7x7_2", c7, c7, 1, 7), (f"{block}.branch7x7_3", c7, 192, 7, 1),
                 (f"{block}.branch7x7dbl_1", 768, c7, 1), (f"{block}.branch7x7dbl_2", c7, c7, 7, 1),
                 (f"{block}.branch7x7dbl_3", c7, c7, 1, 7), (f"{block}.branch7x7dbl_4", c7, c7, 7, 1),
                 (f"{block}.branch7x7dbl_5", c7, 192, 1, 7), (f"{block}.branch_pool", 768, 192, 1)]
    spec += [("Mixed_7a.branch3x3_1", 768, 192, 1), ("Mixed_7a.branch3x3_2", 192, 320, 3),
             ("Mixed_7a.branch7x7x3_1", 768, 192, 1), ("Mixed_7a.branch7x7x3_2", 192, 192, 1, 7),
             ("Mixed_7a.branch7x7x3_3", 192, 192, 7, 1), ("Mixed_7a.branch7x7x3_4", 192, 192, 3)]
    for block, c_in in (("Mixed_7b", 1280), ("Mixed_7c", 2048)):
        spec += [(f"{block}.branch1x1", c_in, 320, 1), (f"{block}.branch3x3_1", c_in, 384, 1),
                 (f"{block}.branch3x3_2a", 384, 384, 1, 3), (f"{block}.branch3x3_2b", 384, 384, 3, 1),
                 (f"{block}.branch3x3dbl_1", c_in, 448, 1), (f"{block}.branch3x3dbl_2", 448, 384, 3),
                 (f"{block}.branch3x3dbl_3a", 384, 384, 1, 3), (f"{block}.branch3x3dbl_3b", 384, 384, 3, 1),
                 (f"{block}.branch_pool", c_in, 192, 1)]
    layout: dict[str, tuple] = {}
    for entry in spec:
        layout.update(_conv_bn(*entry))
    layout["fc.weight"] = (1008, 2048)
    layout["fc.bias"] = (1008,)
    return layout


@pytest.fixture(scope="module")
def inception() -> FIDInceptionV3:
    torch.manual_seed(0)
    return FIDInceptionV3().eval()


@pytest.fixture(scope="module")
def weights_file(inception: FIDInceptionV3, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("inception") / "random_inception.pth"
    torch.save(inception.state_dict(), path)
    return path


def test_inception_state_dict_matches_reference_layout(inception: FIDInceptionV3) -> None:
    ours = {k: tuple(v.shape) for k, v in inception.state_dict().items() if not k.endswith("num_batches_tracked")}
    reference = _reference_layout()
    assert len(reference) == 94 * 5 + 2
    assert sorted(set(ours) ^ set(reference)) == []
    assert {k: ours[k] for k in reference} == reference


def test_inception_parameter_count_matches_torchvision_figure(inception: FIDInceptionV3) -> None:
    # torchvision Inception-v3: 27,161,264 parameters; minus AuxLogits (98,560 + 2,459,136
    # + 769,000 = 3,326,696), plus 8 more classes in fc (8 * 2048 + 8 = 16,392).
    assert sum(p.numel() for p in inception.parameters()) == 27_161_264 - 3_326_696 + 16_392


def test_load_inception_round_trip_gives_identical_2048_features(inception: FIDInceptionV3,
                                                                 weights_file: Path) -> None:
    loaded = load_inception(weights_file)
    images = blob_images(2, size=32, channels=3)[0]
    ours = inception_features(inception, images)
    theirs = inception_features(loaded, images)
    assert ours.shape == (2, 2048) and ours.dtype == np.float64
    assert np.all(np.isfinite(ours)) and float(np.abs(ours).max()) > 1e-3
    np.testing.assert_array_equal(ours, theirs)
    assert not any(p.requires_grad for p in loaded.parameters()) and not loaded.training


def test_load_inception_accepts_a_file_without_num_batches_tracked(inception: FIDInceptionV3,
                                                                   tmp_path: Path) -> None:
    state = {k: v for k, v in inception.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "old.pth")
    loaded = load_inception(tmp_path / "old.pth")
    assert torch.equal(loaded.Mixed_7c.branch_pool.conv.weight, inception.Mixed_7c.branch_pool.conv.weight)


def test_inception_input_is_resized_to_299_and_scaled_to_minus_one_one(inception: FIDInceptionV3) -> None:
    seen: list[torch.Tensor] = []
    handle = inception.Conv2d_1a_3x3.register_forward_pre_hook(lambda _m, args: seen.append(args[0].clone()))
    try:
        images = torch.zeros(2, 1, 20, 20, dtype=torch.uint8)
        images[1] = 255
        inception_features(inception, images)
    finally:
        handle.remove()
    x = seen[0]
    assert tuple(x.shape) == (2, 3, 299, 299)
    # float32 bilinear weights sum to 1 within a few ulps
    assert float(x[0].min()) == pytest.approx(-1.0, abs=1e-6) and float(x[0].max()) == pytest.approx(-1.0, abs=1e-6)
    assert float(x[1].min()) == pytest.approx(1.0, abs=1e-6) and float(x[1].max()) == pytest.approx(1.0, abs=1e-6)


def test_tf_average_pool_excludes_padding() -> None:
    # TensorFlow's pool averages only real pixels, so a constant image stays constant at the border.
    pooled = _tf_avg_pool(torch.ones(1, 1, 4, 4))
    assert torch.equal(pooled, torch.ones(1, 1, 4, 4))


def test_last_block_pools_with_max_and_earlier_with_average(inception: FIDInceptionV3) -> None:
    assert inception.Mixed_7c.pool == "max" and inception.Mixed_7b.pool == "avg"


def test_load_inception_refuses_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        load_inception(tmp_path / "pt_inception-2015-12-05-6726825d.pth")


def test_load_inception_refuses_non_state_dicts(tmp_path: Path) -> None:
    (tmp_path / "junk.pth").write_bytes(b"this is not a torch file")
    with pytest.raises(DataError, match="not a readable torch state dict"):
        load_inception(tmp_path / "junk.pth")
    torch.save([torch.zeros(3)], tmp_path / "list.pth")
    with pytest.raises(DataError, match="not a state dict"):
        load_inception(tmp_path / "list.pth")


def test_load_inception_refuses_wrong_shape_missing_and_unexpected_keys(inception: FIDInceptionV3,
                                                                        tmp_path: Path) -> None:
    good = inception.state_dict()
    wrong_shape = dict(good, **{"fc.weight": torch.zeros(1000, 2048)})
    torch.save(wrong_shape, tmp_path / "shape.pth")
    with pytest.raises(DataError, match=r"fc\.weight has shape \(1000, 2048\), expected \(1008, 2048\)"):
        load_inception(tmp_path / "shape.pth")
    missing = {k: v for k, v in good.items() if k != "Mixed_6e.branch7x7dbl_5.bn.running_var"}
    torch.save(missing, tmp_path / "missing.pth")
    with pytest.raises(DataError, match=r"1 missing keys \(first: Mixed_6e\.branch7x7dbl_5\.bn\.running_var\)"):
        load_inception(tmp_path / "missing.pth")
    extra = dict(good, **{"AuxLogits.fc.weight": torch.zeros(1008, 768)})
    torch.save(extra, tmp_path / "extra.pth")
    with pytest.raises(DataError, match="unexpected keys"):
        load_inception(tmp_path / "extra.pth")


# ------------------------------------------------------------ gankit feature nets
@pytest.fixture(scope="module")
def lenet_data() -> tuple[torch.Tensor, torch.Tensor]:
    return blob_images(800, seed=1)


@pytest.fixture(scope="module")
def lenet_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("features")


@pytest.fixture(scope="module")
def lenet(lenet_data, lenet_cache) -> FeatureNet:
    images, labels = lenet_data
    return train_feature_net(images, labels, cache_dir=lenet_cache)


def test_lenet_is_trained_held_out_and_named(lenet: FeatureNet, lenet_data) -> None:
    assert lenet.kind == "lenet" and re.fullmatch(r"lenet-[0-9a-f]{8}", lenet.id)
    assert 0.9 <= lenet.accuracy <= 1.0
    features = lenet.extract(lenet_data[0][:300], batch_size=64)
    assert features.shape == (300, 128) and features.dtype == np.float64 and np.all(np.isfinite(features))


def test_lenet_cache_is_atomic_loadable_and_reused(lenet: FeatureNet, lenet_data, lenet_cache: Path) -> None:
    files = sorted(p.name for p in lenet_cache.iterdir())
    assert len(files) == 1 and files[0].startswith(lenet.id) and files[0].endswith(".pt")
    payload = torch.load(lenet_cache / files[0], weights_only=True)
    assert set(payload) == {"meta", "state_dict"}
    again = train_feature_net(*lenet_data, cache_dir=lenet_cache)
    assert again.id == lenet.id and again.accuracy == lenet.accuracy
    np.testing.assert_array_equal(again.extract(lenet_data[0][:50]), lenet.extract(lenet_data[0][:50]))


def test_lenet_training_is_deterministic_given_seed(lenet: FeatureNet, lenet_data) -> None:
    fresh = train_feature_net(*lenet_data, use_cache=False)
    np.testing.assert_array_equal(fresh.extract(lenet_data[0][:50]), lenet.extract(lenet_data[0][:50]))


def test_cache_key_depends_on_labels_and_settings(lenet: FeatureNet, lenet_data, tmp_path: Path) -> None:
    images, labels = lenet_data
    other = train_feature_net(images[:200], labels[:200], epochs=1, cache_dir=tmp_path)
    assert other.id != lenet.id
    relabelled = train_feature_net(images[:200], (labels[:200] + 1) % 4, epochs=1, cache_dir=tmp_path)
    assert relabelled.id != other.id


def test_corrupt_cache_file_is_rebuilt(tmp_path: Path) -> None:
    images, labels = blob_images(120, seed=2)
    net = train_feature_net(images, labels, epochs=1, cache_dir=tmp_path)
    (path,) = tmp_path.iterdir()
    path.write_bytes(b"truncated")
    with pytest.warns(UserWarning, match="retraining"):
        rebuilt = train_feature_net(images, labels, epochs=1, cache_dir=tmp_path)
    assert rebuilt.id == net.id and rebuilt.accuracy == net.accuracy
    torch.load(path, weights_only=True)  # rewritten, readable


def test_other_small_sizes_are_resized_to_28(tmp_path: Path) -> None:
    images, labels = blob_images(200, size=16, seed=3)
    net = train_feature_net(images, labels, epochs=1, cache_dir=tmp_path)
    assert net.kind == "lenet" and net.input_size == 28
    assert net.extract(images[:10]).shape == (10, 128)


def test_32x32_colour_images_get_a_small_resnet(tmp_path: Path) -> None:
    images, labels = blob_images(300, size=32, channels=3, seed=4)
    net = train_feature_net(images, labels, epochs=1, cache_dir=tmp_path)
    assert net.kind == "resnet" and re.fullmatch(r"resnet-[0-9a-f]{8}", net.id)
    assert 0.0 <= net.accuracy <= 1.0
    assert net.extract(images[:10]).shape == (10, 128)


def test_unlabelled_images_get_an_autoencoder(tmp_path: Path) -> None:
    images, _ = blob_images(300, seed=5)
    net = train_feature_net(images, None, epochs=2, cache_dir=tmp_path)
    assert net.kind == "ae" and re.fullmatch(r"ae-[0-9a-f]{8}", net.id)
    assert net.accuracy is None and 0.0 < net.reconstruction_mse < 1.0
    assert net.extract(images[:10]).shape == (10, 64)


def test_feature_net_input_errors(lenet: FeatureNet, lenet_data) -> None:
    images, labels = lenet_data
    with pytest.raises(DataError, match="uint8"):
        train_feature_net(images.float(), labels, use_cache=False)
    with pytest.raises(DataError, match="labels must be int64"):
        train_feature_net(images, labels[:10], use_cache=False)
    with pytest.raises(DataError, match="needs labels"):
        train_feature_net(images, None, kind="lenet", use_cache=False)
    with pytest.raises(DataError, match="1-channel"):
        lenet.extract(images[:4].expand(-1, 3, -1, -1))


# ------------------------------------------------------------ evaluate_images
def test_evaluate_images_real_vs_real_is_far_below_noise(lenet: FeatureNet, lenet_data) -> None:
    reference, labels = lenet_data
    samples, _ = blob_images(400, seed=11)  # same distribution, other draws
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no singular-covariance warning at this size
        result = evaluate_images(samples, reference, reference_labels=labels, n=400, seed=0, feature_net=lenet)
    expected_keys = {"fd_lenet", "fd_lenet_floor", "fd_lenet_noise", "kid_lenet", "kid_lenet_std",
                     "precision_lenet", "recall_lenet", "density_lenet", "coverage_lenet",
                     "feature_net", "feature_net_accuracy", "n_samples", "n_reference", "seed"}
    assert set(result) == expected_keys and not any("fid" in key for key in result)
    assert result["feature_net"] == lenet.id and result["feature_net_accuracy"] == lenet.accuracy
    assert (result["n_samples"], result["n_reference"], result["seed"]) == (400, 400, 0)
    assert 0.0 <= result["fd_lenet"] < 0.05 * result["fd_lenet_noise"]
    assert 0.0 <= result["fd_lenet_floor"] < 0.05 * result["fd_lenet_noise"]
    assert 0.5 < result["precision_lenet"] <= 1.0 and 0.5 < result["recall_lenet"] <= 1.0
    assert 0.5 < result["coverage_lenet"] <= 1.0


def test_evaluate_images_trains_its_own_net_and_selects_metrics(tmp_path: Path) -> None:
    reference, labels = blob_images(200, seed=6)
    samples, _ = blob_images(100, seed=7)
    result = evaluate_images(samples, reference, reference_labels=labels, metrics=("kid",), n=100,
                             cache_dir=tmp_path)
    assert set(result) == {"kid_lenet", "kid_lenet_std", "feature_net", "feature_net_accuracy",
                           "n_samples", "n_reference", "seed"}
    assert result["feature_net"].startswith("lenet-")


def test_evaluate_images_rejects_bad_requests(lenet: FeatureNet, lenet_data) -> None:
    reference, labels = lenet_data
    with pytest.raises(ConfigError, match="unknown or no metrics"):
        evaluate_images(reference, reference, metrics=("fid",), feature_net=lenet)
    with pytest.raises(DataError, match="reference format"):
        evaluate_images(blob_images(10, size=16)[0], reference, feature_net=lenet)
