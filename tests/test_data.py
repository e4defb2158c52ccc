"""sphericalae.data: the shipped datasets, image folders, and the errors."""
from pathlib import Path

import numpy as np
import pytest
import torch

from sphericalae.data import load, read_image
from sphericalae.models import arch_for


def test_mnist_5k_split_is_seeded_and_disjoint():
    train, test = load("mnist-5k", split_seed=3)
    assert len(train) == 4500 and len(test) == 500
    x, y = train.tensors
    assert x.shape[1:] == (1, 28, 28) and 0 <= float(x.min()) and float(x.max()) <= 1
    assert len(torch.unique(y)) == 10          # shuffled before the split: all classes in train
    again, _ = load("mnist-5k", split_seed=3)
    assert torch.equal(again.tensors[0], x)
    other, _ = load("mnist-5k", split_seed=4)
    assert not torch.equal(other.tensors[0], x)


def test_lfw_faces_are_rgb_at_the_asked_size():
    train, test = load("lfw-faces", image_size=64)
    assert len(train) + len(test) == 100 and train[0][0].shape == (3, 64, 64)


def test_image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    (tmp_path / "sub").mkdir()
    for i in range(6):
        arr = (rng.random((40 + i, 50, 3)) * 255).astype(np.uint8)
        Image.fromarray(arr).save(tmp_path / ("sub" if i % 2 else ".") / f"img{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    train, test = load(f"folder:{tmp_path}", image_size=32, holdout=0.34)
    assert len(train) + len(test) == 6 and len(test) == 2
    x, label = train[0]
    assert x.shape == (3, 32, 32) and 0 <= float(x.min()) and float(x.max()) <= 1 and label == -1
    assert arch_for(x.shape) == "conv32"


def test_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load(f"folder:{tmp_path / 'missing'}")
    with pytest.raises(ValueError, match="holds 0 image"):
        load(f"folder:{tmp_path}")
    with pytest.raises(ValueError, match="needs a path"):
        load("folder:")


def test_unknown_dataset_names_the_valid_ones():
    with pytest.raises(ValueError, match="valid datasets: mnist-5k, mnist, lfw-faces, folder:PATH"):
        load("cifar10")


def test_bad_image_size_and_holdout():
    with pytest.raises(ValueError, match="image_size"):
        load("lfw-faces", image_size=48)
    with pytest.raises(ValueError, match="holdout"):
        load("mnist-5k", holdout=1.5)
    with pytest.raises(ValueError, match="holdout"):
        load("mnist-5k", holdout=float("nan"))


def test_full_mnist_offline_says_so(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: Name or service not known")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    monkeypatch.setenv("SPHERICALAE_DATA", str(tmp_path))
    with pytest.raises(RuntimeError, match=f"into {tmp_path}.*offline.*mnist-5k"):
        load("mnist")


def test_16_bit_png_keeps_its_depth(tmp_path):
    from PIL import Image

    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (64, 1))     # mean 0.5
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    x = read_image(tmp_path / "deep.png", 32)
    assert x.shape == (3, 32, 32) and abs(float(x.mean()) - 0.5) < 0.02 and float(x.max()) <= 1


def test_bad_image_files_are_refused_by_name_before_training(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray((rng.random((20, 20, 3)) * 255).astype(np.uint8)).save(tmp_path / f"ok{i}.jpg")
    good = (tmp_path / "ok0.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(good[: len(good) // 2])               # truncated JPEG
    (tmp_path / "empty.png").write_bytes(b"")                                # 0-byte PNG
    (tmp_path / "text.png").write_text("not an image at all")                # text named .png
    with pytest.raises(ValueError) as err:
        load(f"folder:{tmp_path}", image_size=32)
    msg = str(err.value)
    assert "3 of 6 files" in msg and "nothing was trained" in msg
    for name in ("cut.jpg", "empty.png", "text.png"):
        assert name in msg
    assert "ok0.jpg" not in msg


def broken_png(path):
    """A PNG whose chunk checksums are all valid but whose compressed pixel data do not decode."""
    import io
    import struct
    import zlib

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(buf, "PNG")
    data, out, pos = buf.getvalue(), bytearray(buf.getvalue()[:8]), 8
    while pos < len(data):
        n, kind = struct.unpack(">I", data[pos:pos + 4])[0], data[pos + 4:pos + 8]
        body = bytearray(data[pos + 8:pos + 8 + n])
        if kind == b"IDAT":
            body[2:10] = b"\xff" * 8
            body[len(body) // 2:len(body) // 2 + 64] = bytes(64)
        out += struct.pack(">I", n) + kind + body + struct.pack(">I", zlib.crc32(bytes(kind + body)))
        pos += 12 + n
    path.write_bytes(bytes(out))


def test_broken_compressed_data_with_valid_checksums_is_refused_before_training(tmp_path):
    # used to pass the check (verify() reads checksums only) and stop training with 'broken data stream'
    from PIL import Image

    for i in range(2):
        Image.fromarray(np.full((20, 20, 3), 40 * i, dtype=np.uint8)).save(tmp_path / f"ok{i}.png")
    broken_png(tmp_path / "broken.png")
    with Image.open(tmp_path / "broken.png") as im:
        im.verify()                                                      # the checksums are fine
    with pytest.raises(ValueError, match=r"1 of 3 files.*broken\.png \(OSError: broken data stream"):
        load(f"folder:{tmp_path}", image_size=32)


@pytest.mark.parametrize("workers", [0, 1])
def test_a_file_broken_during_training_is_named_from_a_worker(tmp_path, workers):
    # with workers the error read 'Caught ValueError in DataLoader worker process 0.' and no file
    from PIL import Image
    from torch.utils.data import DataLoader

    from sphericalae.data import ImageReadError

    for i in range(3):
        Image.fromarray(np.full((20, 20, 3), 40 * i, dtype=np.uint8)).save(tmp_path / f"ok{i}.png")
    train, held = load(f"folder:{tmp_path}", image_size=32, holdout=0.3)
    broken_png(Path(train.files[0]))                                     # breaks after the check
    with pytest.raises(ImageReadError) as err:
        list(DataLoader(train, batch_size=1, num_workers=workers))
    line = str(err.value)
    assert isinstance(err.value, ValueError) and "\n" not in line
    assert line.startswith(f"cannot read image {train.files[0]}: OSError: broken data stream")
    assert ("DataLoader worker process 0" in line) == (workers > 0)


# --- issue 29: symbolic links followed or refused by name; 16 bits per colour channel kept ----------

def _png16(path, a):
    """Write ``a`` (uint16, (H, W, C), C = 2 grey+alpha, 3 RGB, 4 RGBA) as a 16-bit-per-channel PNG:
    PIL cannot write one, so the chunks are written here (filter 0, one IDAT)."""
    import struct
    import zlib

    h, w, c = a.shape
    raw = b"".join(b"\0" + a[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 16, {2: 4, 3: 2, 4: 6}[c], 0, 0, 0)
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
                           + chunk(b"IEND", b""))


@pytest.mark.parametrize("channels", [2, 3, 4])
def test_a_16_bit_per_channel_colour_png_is_read_at_full_depth(tmp_path, channels):
    level = 25750                                   # 25750 / 65535 = 0.392920; at 8 bits 100 / 255 = 0.392157
    a = np.full((20, 24, channels), level, np.uint16)
    a[..., -1] = 65535 if channels in (2, 4) else level          # opaque alpha
    _png16(tmp_path / "deep.png", a)
    x = read_image(tmp_path / "deep.png", 16)
    assert x.shape == (3, 16, 16) and abs(float(x.mean()) - level / 65535) < 1e-6
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16)[None, :, None], (64, 1, 3))
    _png16(tmp_path / "ramp.png", ramp)
    y = read_image(tmp_path / "ramp.png", 64)
    assert abs(float(y.mean()) - 0.5) < 1e-4 and float(y.min()) >= 0 and float(y.max()) <= 1


def _images(folder, n, start=0):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + n):
        Image.fromarray(np.full((8, 8, 3), 10 * i, np.uint8)).save(folder / f"img{i}.png")


def test_symlinked_images_and_folders_are_followed(tmp_path):
    data, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    _images(data, 2)
    _images(elsewhere, 4, start=2)
    (data / "linked").symlink_to(elsewhere)                      # a folder of 2 + 4 linked images
    (data / "one.png").symlink_to(elsewhere / "img2.png")
    train, test = load(f"folder:{data}", image_size=32)
    assert len(train) + len(test) == 7


@pytest.mark.parametrize("fault,why", [("dangling", "dangling symbolic link"), ("loop", "symbolic link loop"),
                                       ("ancestor", "folder that contains it"), ("twice", "a second path")])
def test_a_symlink_that_cannot_be_followed_is_refused_by_name(tmp_path, fault, why):
    data = tmp_path / "data"
    _images(data, 3)
    bad = data / "bad.png"
    if fault == "dangling":
        bad.symlink_to(tmp_path / "gone.png")
    elif fault == "loop":
        bad.symlink_to(data / "bad2.png")
        (data / "bad2.png").symlink_to(bad)
    elif fault == "ancestor":
        bad = data / "up"
        bad.symlink_to(tmp_path)
    else:
        _images(tmp_path / "other", 2, start=5)
        (data / "a").symlink_to(tmp_path / "other")
        bad = data / "b"
        bad.symlink_to(tmp_path / "other")
    with pytest.raises(ValueError, match=why) as err:
        load(f"folder:{data}", image_size=32)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)
