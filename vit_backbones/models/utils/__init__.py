from .attention import (MultiheadSelfAttention, attention_as_matmul,
                        bool_mask_to_bias, mask_value,
                        scaled_dot_product_attention, use_matmul_path)
from .position import (resize_pos_embed_1d, resize_pos_embed_2d,
                       resize_rel_pos_table, square_grid_side)
from .pyramid import SimpleFeaturePyramid
from .shape import (ExportableAdaptivePadding, ceil_div, check_input,
                    contiguous_if_symbolic, crop, is_symbolic,
                    make_patch_embed_exportable, pool2d_ceil,
                    shape_cache)

__all__ = [
    'MultiheadSelfAttention', 'attention_as_matmul', 'bool_mask_to_bias',
    'mask_value', 'scaled_dot_product_attention', 'use_matmul_path',
    'resize_pos_embed_1d', 'resize_pos_embed_2d', 'resize_rel_pos_table',
    'square_grid_side', 'SimpleFeaturePyramid', 'ExportableAdaptivePadding',
    'ceil_div', 'check_input', 'contiguous_if_symbolic', 'crop',
    'is_symbolic', 'make_patch_embed_exportable', 'pool2d_ceil',
    'shape_cache'
]
