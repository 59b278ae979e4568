from .attention import (attention_as_matmul, bool_mask_to_bias, mask_value,
                        scaled_dot_product_attention, use_matmul_path)
from .pyramid import SimpleFeaturePyramid
from .shape import check_input, pad_amount, pad_to_multiple

__all__ = [
    'attention_as_matmul', 'bool_mask_to_bias', 'mask_value',
    'scaled_dot_product_attention', 'use_matmul_path', 'SimpleFeaturePyramid',
    'check_input', 'pad_amount', 'pad_to_multiple'
]
