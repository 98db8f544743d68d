"""The shared frame-id check (heartmula_core.frames) that generation, codecs and the editor use."""

import numpy as np
import pytest
import torch

from heartmula_core.errors import FramesError
from heartmula_core.frames import check_frames, ids_out_of_range

SIZES = (5, 3, 7)


def test_numpy_and_torch_find_the_same_first_bad_id_and_count_frames():
    frames = np.zeros((6, 3), dtype=np.int64)
    frames[4, 0] = 5      # codebook 0 takes 0..4
    frames[2, 1] = -1     # first in frame-major order
    frames[2, 2] = 7      # same frame: counted once
    for given in (frames, torch.from_numpy(frames)):
        problem = ids_out_of_range(given, SIZES)
        assert (problem.frame, problem.codebook, problem.value, problem.size, problem.frames) == (2, 1, -1, 3, 2)
        assert problem.describe() == "frame 2 codebook 1 holds -1; codebook 1 takes 0..2"


def test_ids_at_the_top_of_each_codebook_are_valid():
    top = np.array([[4, 2, 6]])
    assert ids_out_of_range(top, SIZES) is None
    assert check_frames(top, SIZES).tolist() == [[4, 2, 6]]


def test_check_returns_int64_of_either_input():
    out = check_frames(np.array([[1, 2, 3]], dtype=np.int32), SIZES)
    assert out.dtype == torch.int64 and isinstance(out, torch.Tensor)
    out = check_frames(torch.tensor([[1, 2, 3]], dtype=torch.int16), SIZES)
    assert out.dtype == torch.int64


@pytest.mark.parametrize("frames, message", [
    ([[0, 0, 0]], "must be a torch.Tensor or numpy array [T, 3], found list"),
    (np.zeros((2, 3), dtype=np.float32), "integer ids, found dtype float32"),
    (torch.zeros(2, 3, dtype=torch.bool), "integer ids, found dtype torch.bool"),
    (torch.zeros(3, 2, dtype=torch.long), "shape [T, 3], found [3, 2] (codebook-major? pass frames.T)"),
    (torch.zeros(3, dtype=torch.long), "shape [T, 3], found [3]"),
    (torch.tensor([[0, 3, 0]]), "prefix: frame 0 codebook 1 holds 3; codebook 1 takes 0..2"),
])
def test_each_problem_is_one_line_naming_what_was_checked(frames, message):
    with pytest.raises(FramesError) as err:
        check_frames(frames, SIZES, what="prefix")
    assert message in str(err.value)
    assert str(err.value).startswith("prefix")
    assert "\n" not in str(err.value)


def test_read_only_arrays_are_copied_without_a_warning(recwarn):
    frozen = np.array([[1, 2, 3]])
    frozen.setflags(write=False)  # as SongDocument keeps its frames
    assert check_frames(frozen, SIZES).tolist() == [[1, 2, 3]]
    assert not [w for w in recwarn if "not writable" in str(w.message)]


def test_empty_frames_pass_unless_refused():
    empty = torch.zeros(0, 3, dtype=torch.long)
    assert check_frames(empty, SIZES).shape == (0, 3)
    with pytest.raises(FramesError, match="empty"):
        check_frames(empty, SIZES, allow_empty=False)
