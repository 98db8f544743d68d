"""CPU side of the GPU fast paths: the chunked top-k threshold equals the single top-k, and skinny
products fall back to the library product off CUDA."""

import torch

from heartmula_core.sampling import kth_largest


def test_chunked_threshold_equals_single_topk():
    gen = torch.Generator().manual_seed(0)
    for v in (8197, 1000, 64):
        x = torch.randn(5, v, generator=gen)
        x[0, : v // 2] = float("-inf")  # masked ids, as the invalid-id mask leaves them
        x[1] = x[1].round()  # many ties
        for k in (1, 50):
            if k > v:
                continue
            assert torch.equal(kth_largest(x, k, chunked=True), torch.topk(x, k, dim=-1).values[..., -1:])


def test_skinny_products_fall_back_on_cpu():
    from heartmula_core.model.skinny import skinny_linear

    x, w = torch.randn(2, 3, 64), torch.randn(32, 64)
    assert torch.equal(skinny_linear(x, w), torch.nn.functional.linear(x, w))
