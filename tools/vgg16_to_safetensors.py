#!/usr/bin/env python3
"""Write torchvision's ImageNet VGG16 convolution weights as a .safetensors file.

The RCAN paper uses an ImageNet-pretrained VGG16 as its feature extractor and
for the co-perceptual loss. The C++ project has no Python dependency, and
LibTorch cannot read torchvision's pickled checkpoints, so this one-off script
converts them for a user who has Python with torch, torchvision and the
safetensors package (``pip install torch torchvision safetensors``).

Only ``features.0`` .. ``features.28`` (conv1_1 .. conv5_3, 13 convolutions,
26 tensors, about 59 MB) are written, under torchvision's own names
(``features.<i>.weight`` / ``features.<i>.bias``), which are exactly the
parameter names of ``cosal::VGG16Impl`` (model/vgg16.h). The classifier is
not needed: the project uses VGG16 up to relu5_3.

Usage::

    python3 tools/vgg16_to_safetensors.py vgg16_features.safetensors
    # or from a checkpoint already on disk (no download):
    python3 tools/vgg16_to_safetensors.py --checkpoint vgg16-397923af.pth out.safetensors

Then, in C++::

    #include "vgg16.h"
    #include "weights_io.h"

    auto vgg = std::make_shared<cosal::VGG16Impl>();
    const auto file = cosal::safetensors::File::read(path);
    cosal::load_module_state(*vgg, cosal::load_tensors(file), path);

The weights are torchvision's ``VGG16_Weights.IMAGENET1K_V1`` (BSD-3-Clause
code; the weights were trained on ImageNet: check its terms for your use).
``VGG16Impl`` applies torchvision's preprocessing itself (RGB in [0, 1],
ImageNet mean/std), so the converted weights see the inputs they were
trained on.
"""

import argparse
import os
import sys
import tempfile


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", help="the .safetensors file to write")
    parser.add_argument(
        "--checkpoint",
        help="a torchvision vgg16 state dict (.pth) to convert instead of downloading one",
    )
    args = parser.parse_args()

    try:
        import torch
        from safetensors.torch import save_file
    except ImportError as e:
        print(f"error: {e}; install with: pip install torch torchvision safetensors", file=sys.stderr)
        return 1

    if args.checkpoint:
        state = torch.load(args.checkpoint, map_location="cpu")
        source = os.path.basename(args.checkpoint)
    else:
        import torchvision

        weights = torchvision.models.VGG16_Weights.IMAGENET1K_V1
        state = torchvision.models.vgg16(weights=weights).state_dict()
        source = f"torchvision {torchvision.__version__} VGG16_Weights.IMAGENET1K_V1"

    features = {
        k: v.detach().to(torch.float32).contiguous()
        for k, v in state.items()
        if k.startswith("features.")
    }
    convs = sorted({int(k.split(".")[1]) for k in features})
    expected = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    if convs != expected or len(features) != 2 * len(expected):
        print(f"error: not a torchvision vgg16 state dict (conv indices {convs})", file=sys.stderr)
        return 1

    # Write next to the target and rename, so a failed run leaves no partial file.
    out_dir = os.path.dirname(os.path.abspath(args.output))
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".tmp")
    os.close(fd)
    try:
        save_file(features, tmp, metadata={"source": source, "network": "vgg16.features"})
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, args.output)
    except BaseException:
        os.unlink(tmp)
        raise
    n = sum(v.numel() for v in features.values())
    print(f"wrote {args.output}: {len(features)} tensors, {n} parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
