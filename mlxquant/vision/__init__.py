"""Image preprocessing: loading, resizing, fitting, colour, normalization, layouts, presets, batches.

Sizes are (height, width) everywhere; images are HWC (or NHWC batches) unless a layout says otherwise.
"""

from .color import COLOR_ORDERS, YUV_FORMATS, convert_color, to_gray, yuv_to_rgb
from .diagnostics import (
    ChannelOrderWarning,
    ConstantImageWarning,
    DoubleNormalizationWarning,
    PreprocessWarning,
    check_model_input,
)
from .fit import FIT_STRATEGIES, center_crop, fit, letterbox, letterbox_params, pad_image
from .load import LOAD_MODES, load_image
from .normalize import (
    LAYOUTS,
    NORMALIZATIONS,
    OUTPUT_DTYPES,
    Normalization,
    cast_output,
    get_normalization,
    normalize,
    quantize_input,
    to_layout,
)
from .preprocess import Batch, preprocess
from .presets import MODEL_PRESETS, PRESETS, Preset, get_preset
from .resize import COORDINATE_MODES, NEAREST_MODES, RESIZE_METHODS, resize
from .transforms import Transform

__all__ = [
    "COLOR_ORDERS",
    "COORDINATE_MODES",
    "FIT_STRATEGIES",
    "LAYOUTS",
    "LOAD_MODES",
    "MODEL_PRESETS",
    "NEAREST_MODES",
    "NORMALIZATIONS",
    "OUTPUT_DTYPES",
    "PRESETS",
    "RESIZE_METHODS",
    "YUV_FORMATS",
    "Batch",
    "ChannelOrderWarning",
    "ConstantImageWarning",
    "DoubleNormalizationWarning",
    "Normalization",
    "PreprocessWarning",
    "Preset",
    "Transform",
    "cast_output",
    "center_crop",
    "check_model_input",
    "convert_color",
    "fit",
    "get_normalization",
    "get_preset",
    "letterbox",
    "letterbox_params",
    "load_image",
    "normalize",
    "pad_image",
    "preprocess",
    "quantize_input",
    "resize",
    "to_gray",
    "to_layout",
    "yuv_to_rgb",
]
